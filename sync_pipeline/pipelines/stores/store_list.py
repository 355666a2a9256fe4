"""The store list: `GET /stores` into table `stores`, and retiring the stores that left it.

The list is always walked whole, so its run is a full snapshot: a store missing from it is
soft-deleted (behind the engine's 5% safety threshold), and then retired: its live users and
videos are soft-deleted too. Retiring looks at the table, not at this run, so a retirement
interrupted by a crash is finished by the next run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from operator import itemgetter

from psycopg import sql
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.checkpoints import Position, listing_layout
from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.http import ApiClient, fetch_cursor_pages
from sync_pipeline.engine.soft_delete import soft_delete_rows
from sync_pipeline.engine.sync_result import SyncResult
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline.entities.stores import STORE_USERS, STORE_VIDEOS, STORES

PIPELINE = "stores"
PARTITION = "all"


@dataclass
class StoreListOutcome:
    """What a store-list run saw and did: the live codes (sorted), new and retired stores."""

    live_codes: list[str]
    result: SyncResult
    records: int
    retired_rows: dict[str, int] = field(default_factory=dict)

    @property
    def new_codes(self) -> list[str]:
        return sorted(str(key) for key in self.result.inserted_keys)

    @property
    def retired_codes(self) -> list[str]:
        return sorted(str(key) for key in self.result.soft_deleted_keys)


async def sync_store_list(
    pool: ConnectionPool, client: ApiClient, run_id: str, page_size: int = 100
) -> StoreListOutcome:
    """Fetch every store, write `stores`, retire the stores that vanished.

    Raises what the client raises and the engine's errors (nothing is written then).
    """
    records: list[dict] = []
    async for page in fetch_cursor_pages(
        client, "/stores", key=itemgetter("code"), limit=page_size
    ):
        records.extend(page.records)
    return await asyncio.to_thread(write_store_list, pool, records, run_id, page_size)


def write_store_list(
    pool: ConnectionPool, records: list[dict], run_id: str, page_size: int
) -> StoreListOutcome:
    with SyncRun(
        pool,
        STORES,
        pipeline=PIPELINE,
        partition=PARTITION,
        run_id=run_id,
        options=WriteOptions(parallel_batches=1),
        layout=listing_layout(page_size, order="code"),
    ) as run:
        run.add_page(records, Position(page=1))
        result = run.finish(full_snapshot=True)
    retired = retire_vanished_stores(pool, run_id)
    return StoreListOutcome(
        live_codes=live_store_codes(pool),
        result=result,
        records=len(records),
        retired_rows=retired,
    )


def live_store_codes(pool: ConnectionPool) -> list[str]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT code FROM stores WHERE deleted_at IS NULL ORDER BY code"
        ).fetchall()
    return [code for (code,) in rows]


def live_codes_by_region(pool: ConnectionPool) -> list[str]:
    """Live store codes grouped by region (then by code): the order to register partitions in,
    so that a region's stores are one range, which a single-run backfill runs as one run."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT code FROM stores WHERE deleted_at IS NULL ORDER BY region NULLS LAST, code"
        ).fetchall()
    return [code for (code,) in rows]


def retire_vanished_stores(pool: ConnectionPool, run_id: str) -> dict[str, int]:
    """Soft-delete the live users and videos of every soft-deleted store; rows per store."""
    retired: dict[str, int] = {}
    for spec in (STORE_USERS, STORE_VIDEOS):
        with pool.connection() as conn, conn.transaction():
            keys = conn.execute(_orphans_query(spec)).fetchall()
            for key in soft_delete_rows(conn, spec, [tuple(k) for k in keys], run_id):
                retired[key[0]] = retired.get(key[0], 0) + 1
    return retired


def _orphans_query(spec: EntitySpec) -> sql.Composed:
    return sql.SQL(
        "SELECT m.store_code, m.id FROM {table} m JOIN stores s ON s.code = m.store_code "
        "WHERE m.deleted_at IS NULL AND s.deleted_at IS NOT NULL ORDER BY m.store_code, m.id"
    ).format(table=spec.table_sql)
