"""Contacts, triggers and queued executions written straight into a test database."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import psycopg

ZERO_FINGERPRINT = b"\x00" * 16


def add_contact(
    db: psycopg.Connection,
    workspace: str,
    stage: str = "sql",
    owner_id: int | None = 1,
    custom_fields: dict[str, Any] | None = None,
) -> uuid.UUID:
    contact_id = uuid.uuid4()
    db.execute(
        "INSERT INTO contacts (id, workspace_id, name, email, stage, owner_id, custom_fields, "
        "updated_at, fingerprint, last_run_id) "
        "VALUES (%s, %s, 'Ada Lovelace', 'ada@example.com', %s, %s, %s, now(), %s, 'test')",
        (
            contact_id,
            workspace,
            stage,
            owner_id,
            orjson.dumps(custom_fields or {"lead_score": 10}).decode(),
            ZERO_FINGERPRINT,
        ),
    )
    return contact_id


def add_trigger(
    db: psycopg.Connection,
    workspace: str,
    field: str,
    url: str,
    *,
    from_value: Any = None,
    to_value: Any = None,
    priority: int = 5,
    max_attempts: int = 8,
) -> int:
    dump = lambda v: None if v is None else orjson.dumps(v).decode()
    return db.execute(
        "INSERT INTO triggers (workspace_id, field, webhook_url, from_value, to_value, priority, "
        "max_attempts) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (workspace, field, url, dump(from_value), dump(to_value), priority, max_attempts),
    ).fetchone()[0]


def set_stage(db: psycopg.Connection, contact_id: uuid.UUID, stage: str) -> None:
    db.execute(
        "UPDATE contacts SET stage = %s, updated_at = now() WHERE id = %s", (stage, contact_id)
    )


def changes(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "SELECT contact_id, field, old_value, new_value FROM contact_field_changes ORDER BY id"
    ).fetchall()


def executions(db: psycopg.Connection) -> list[dict]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("SELECT * FROM workflow_executions ORDER BY id").fetchall()


def enqueue_stage_changes(
    db: psycopg.Connection, conninfo: str, workspace: str, url: str, count: int, **trigger: Any
) -> int:
    """`count` contacts whose stage moves sql -> opportunity under one trigger, dispatched."""
    from sync_pipeline.workflows.dispatcher import dispatch_pending

    trigger_id = add_trigger(db, workspace, "stage", url, **trigger)
    ids = [add_contact(db, workspace) for _ in range(count)]
    db.execute("UPDATE contacts SET stage = 'opportunity' WHERE id = ANY(%s)", (ids,))
    asyncio.run(_dispatch(conninfo, dispatch_pending))
    return trigger_id


async def _dispatch(dsn: str, dispatch_pending) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await dispatch_pending(conn, 1000)


def wait_until(
    condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def statuses(db: psycopg.Connection) -> dict[str, int]:
    return dict(
        db.execute("SELECT status, count(*) FROM workflow_executions GROUP BY 1").fetchall()
    )
