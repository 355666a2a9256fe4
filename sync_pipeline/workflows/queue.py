"""`workflow_executions` as a durable queue: claim under a lease, settle, reclaim, replay.

Every statement is one round trip on an autocommit connection. Claims take due jobs by
priority with `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same job; a job
stays leased until its owner settles it or the lease expires, after which any worker reclaims it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, Connection

WAKE_WORKERS = "workflow_executions"

_CLAIM = """
WITH picked AS (
    SELECT id FROM workflow_executions
    WHERE status IN ('queued', 'failed') AND scheduled_at <= now()
    ORDER BY priority, scheduled_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
UPDATE workflow_executions e
SET status = 'processing', attempts = e.attempts + 1, lease_owner = %(owner)s,
    lease_expires_at = now() + %(lease)s, updated_at = now()
FROM picked WHERE e.id = picked.id
RETURNING e.id, e.delivery_id, e.trigger_id, e.priority, e.payload, e.attempts, e.max_attempts
"""

_SETTLE = """
UPDATE workflow_executions e
SET status = r.status, scheduled_at = now() + make_interval(secs => r.delay_s),
    last_error = r.error, last_status_code = r.status_code,
    completed_at = CASE WHEN r.status = 'completed' THEN now() END,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
FROM unnest(%s::bigint[], %s::text[], %s::float8[], %s::text[], %s::int[])
     AS r(id, status, delay_s, error, status_code)
WHERE e.id = r.id AND e.status = 'processing' AND e.lease_owner = %s
"""

_RELEASE = """
UPDATE workflow_executions
SET status = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL,
    scheduled_at = now(), updated_at = now()
WHERE id = ANY(%s) AND status = 'processing' AND lease_owner = %s
"""

_RECLAIM = """
UPDATE workflow_executions e
SET status = CASE WHEN e.attempts >= e.max_attempts THEN 'dead' ELSE 'queued' END,
    last_error = 'lease of ' || e.lease_owner || ' expired during the attempt',
    lease_owner = NULL, lease_expires_at = NULL, scheduled_at = now(), updated_at = now()
WHERE e.id IN (SELECT id FROM workflow_executions
               WHERE status = 'processing' AND lease_expires_at < now()
               FOR UPDATE SKIP LOCKED)
RETURNING e.id
"""


@dataclass(frozen=True)
class Job:
    """One leased execution: what to POST and how many attempts it has had (this one included)."""

    id: int
    delivery_id: UUID
    trigger_id: int
    priority: int
    payload: dict[str, Any]
    attempts: int
    max_attempts: int

    def body(self) -> dict[str, Any]:
        """The webhook body of the contract: the change, with its delivery id."""
        return {"delivery_id": str(self.delivery_id), **self.payload}


@dataclass(frozen=True)
class Settlement:
    """How an attempt ended: `completed`, `failed` (retry after `delay_s`) or `dead`."""

    job_id: int
    status: str
    delay_s: float = 0.0
    error: str | None = None
    status_code: int | None = None


async def claim(conn: AsyncConnection, owner: str, limit: int, lease: timedelta) -> list[Job]:
    """Lease up to `limit` due jobs to `owner`, highest priority (lowest number) first."""
    cur = await conn.execute(_CLAIM, {"limit": limit, "owner": owner, "lease": lease})
    jobs = [Job(*row) for row in await cur.fetchall()]
    return sorted(jobs, key=lambda job: (job.priority, job.id))


async def settle(conn: AsyncConnection, owner: str, settlements: list[Settlement]) -> int:
    """Record how attempts ended, in one statement; jobs no longer leased to `owner` (reclaimed
    after their lease expired) are left alone. Answers how many rows were settled."""
    if not settlements:
        return 0
    columns = list(
        zip(*((s.job_id, s.status, s.delay_s, s.error, s.status_code) for s in settlements))
    )
    cur = await conn.execute(_SETTLE, [list(column) for column in columns] + [owner])
    return cur.rowcount


async def release(conn: AsyncConnection, owner: str, job_ids: Iterable[int]) -> int:
    """Give leased jobs back to the queue untried (graceful stop); the attempt is not counted."""
    cur = await conn.execute(_RELEASE, (list(job_ids), owner))
    return cur.rowcount


async def reclaim_expired(conn: AsyncConnection) -> int:
    """Requeue jobs whose lease expired (their worker died); dead when out of attempts."""
    cur = await conn.execute(_RECLAIM)
    reclaimed = cur.rowcount
    if reclaimed:
        await conn.execute("SELECT pg_notify(%s, '')", (WAKE_WORKERS,))
    return reclaimed


def replay_dead(
    conn: Connection, trigger_id: int | None = None, ids: list[int] | None = None
) -> int:
    """Requeue dead letters (all, one trigger's, or the given ids) with their attempts reset and
    their delivery id kept, so a receiver that saw one before deduplicates it. Commits."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE workflow_executions SET status = 'queued', attempts = 0, scheduled_at = now(), "
            "updated_at = now() WHERE status = 'dead' "
            "AND (%(trigger)s::bigint IS NULL OR trigger_id = %(trigger)s) "
            "AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))",
            {"trigger": trigger_id, "ids": ids},
        )
        if cur.rowcount:
            conn.execute("SELECT pg_notify(%s, '')", (WAKE_WORKERS,))
        return cur.rowcount


@dataclass(frozen=True)
class QueueState:
    """Depth by (status, priority) of every unfinished execution, and the oldest due job's age."""

    depth: dict[tuple[str, int], int]
    oldest_due_age_s: float
    due: int

    def count(self, status: str) -> int:
        return sum(n for (s, _), n in self.depth.items() if s == status)


def queue_state(conn: Connection) -> QueueState:
    """Read the queue's state (each status through its own partial index; completed not counted)."""
    rows = conn.execute(
        "SELECT status, priority, count(*) FROM workflow_executions "
        "WHERE status IN ('queued', 'failed') "
        "GROUP BY 1, 2 UNION ALL SELECT status, priority, count(*) FROM workflow_executions "
        "WHERE status = 'processing' GROUP BY 1, 2 UNION ALL SELECT status, priority, count(*) "
        "FROM workflow_executions WHERE status = 'dead' GROUP BY 1, 2"
    ).fetchall()
    due, oldest = conn.execute(
        "SELECT count(*), min(scheduled_at) FROM workflow_executions "
        "WHERE status IN ('queued', 'failed') AND scheduled_at <= now()"
    ).fetchone()
    now: datetime = conn.execute("SELECT now()").fetchone()[0]
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return QueueState({(status, priority): n for status, priority, n in rows}, max(age, 0.0), due)


_PRUNE = """
DELETE FROM workflow_executions
WHERE id IN (SELECT id FROM workflow_executions
             WHERE status = 'completed' AND completed_at < now() - %(age)s
             ORDER BY completed_at
             LIMIT %(batch)s)
"""


def prune_completed(conn: Connection, older_than: timedelta, batch: int = 10_000) -> int:
    """Delete executions completed more than `older_than` ago, `batch` rows per transaction (so
    workers are never held up long); dead letters and unfinished jobs stay. Answers how many."""
    pruned = 0
    while True:
        with conn.transaction():
            deleted = conn.execute(_PRUNE, {"age": older_than, "batch": batch}).rowcount
        pruned += deleted
        if deleted < batch:
            return pruned
