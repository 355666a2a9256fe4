"""Helpers for the engine tests: run a sync over pages, read a table back, count writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.checkpoints import Position, listing_layout
from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.sync_result import SyncResult
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions


def sync(
    pool: ConnectionPool,
    spec: EntitySpec,
    records: Sequence[Any],
    *,
    full_snapshot: bool = True,
    force: bool = False,
    page_size: int = 10,
    options: WriteOptions | None = None,
    pipeline: str = "test",
    partition: str = "all",
    scope: dict | None = None,
    run_id: str | None = None,
) -> SyncResult:
    """One run over `records`, `page_size` per page, finished (optionally as a full snapshot)."""
    options = options or WriteOptions(batch_size=25, parallel_batches=2)
    with SyncRun(
        pool,
        spec,
        pipeline=pipeline,
        partition=partition,
        run_id=run_id or uuid.uuid4().hex,
        scope=scope,
        options=options,
        layout=listing_layout(page_size),
    ) as run:
        for number, start in enumerate(range(0, len(records), page_size), start=1):
            run.add_page(records[start : start + page_size], Position(page=number))
        return run.finish(full_snapshot=full_snapshot, force_soft_delete=force)


def table_rows(conn: psycopg.Connection, table: str, order_by: str = "id") -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("SELECT * FROM {} ORDER BY {}").format(sql.Identifier(table), sql.SQL(order_by))
        )
        return cur.fetchall()


def row_versions(conn: psycopg.Connection, table: str) -> dict:
    """ctid, xmin and xmax of every row: any write or row lock changes them."""
    query = sql.SQL("SELECT ctid::text, xmin::text, xmax::text FROM {} ORDER BY ctid").format(
        sql.Identifier(table)
    )
    return {row[0]: row[1:] for row in conn.execute(query).fetchall()}


def change_log(conn: psycopg.Connection) -> list[tuple]:
    """(record_key, column_name, old, new) in log order; JSON numbers read as `Decimal`."""
    with conn.cursor() as cur:
        set_json_loads(partial(json.loads, parse_float=Decimal), cur)
        cur.execute(
            "SELECT record_key, column_name, old_value, new_value FROM sync_change_log ORDER BY id"
        )
        return cur.fetchall()


def quarantine(conn: psycopg.Connection) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT source, entity, run_id, record_key, reason, raw_json "
            "FROM sync_quarantine ORDER BY id"
        )
        return cur.fetchall()
