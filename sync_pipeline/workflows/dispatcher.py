"""The outbox dispatcher: undispatched `contact_field_changes` rows become queued executions.

One transaction per batch claims changes with `FOR UPDATE SKIP LOCKED` (any number of
dispatchers may run), enqueues one execution per matching active trigger and change (`ON
CONFLICT DO NOTHING` on (trigger, change): enqueueing twice is harmless), marks the changes
dispatched and wakes the workers. Triggers are matched in SQL against the `triggers` table, so a
trigger created, changed or deactivated applies to the very next batch. NOTIFY only wakes the
loop; it also polls, so changes committed while no one listened are dispatched all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection

from sync_pipeline.workflows.queue import WAKE_WORKERS

WAKE_DISPATCHER = "contact_field_changes"

_DISPATCH = """
WITH batch AS (
    SELECT id, changed_at, workspace_id, contact_id, field, old_value, new_value
    FROM contact_field_changes
    WHERE NOT dispatched
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED),
queued AS (
    INSERT INTO workflow_executions
        (trigger_id, workspace_id, contact_id, change_id, priority, max_attempts, payload)
    SELECT t.id, b.workspace_id, b.contact_id, b.id, t.priority, t.max_attempts,
           jsonb_build_object('trigger_id', t.id, 'workspace_id', b.workspace_id,
                              'contact_id', b.contact_id, 'field', b.field, 'old', b.old_value,
                              'new', b.new_value, 'changed_at', b.changed_at)
    FROM batch b
    JOIN triggers t ON t.workspace_id = b.workspace_id AND t.field = b.field AND t.active
         AND (t.from_value IS NULL OR t.from_value = b.old_value)
         AND (t.to_value IS NULL OR t.to_value = b.new_value)
    ORDER BY b.id, t.id
    ON CONFLICT (trigger_id, change_id) DO NOTHING
    RETURNING 1),
marked AS (
    UPDATE contact_field_changes c SET dispatched = true
    FROM batch b WHERE c.id = b.id AND c.changed_at = b.changed_at
    RETURNING 1)
SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM queued)
"""


@dataclass(frozen=True)
class Dispatched:
    """One batch: changes marked dispatched and executions enqueued for them."""

    changes: int
    queued: int


async def dispatch_batch(conn: AsyncConnection, limit: int) -> Dispatched:
    """Dispatch up to `limit` changes in one transaction; wakes the workers when it queued any."""
    async with conn.transaction():
        cur = await conn.execute(_DISPATCH, {"limit": limit})
        changes, queued = await cur.fetchone()
        if queued:
            await conn.execute("SELECT pg_notify(%s, '')", (WAKE_WORKERS,))
    return Dispatched(changes, queued)


async def dispatch_pending(conn: AsyncConnection, limit: int) -> Dispatched:
    """Dispatch batch after batch until a batch comes back short; answers the totals."""
    changes = queued = 0
    while True:
        batch = await dispatch_batch(conn, limit)
        changes, queued = changes + batch.changes, queued + batch.queued
        if batch.changes < limit:
            return Dispatched(changes, queued)
