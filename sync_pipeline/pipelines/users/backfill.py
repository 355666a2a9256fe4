"""The detail backfill: bounded runs that fill in the users known from the list only.

    outcome = await backfill_details(pool, detail_client, run_id, BackfillSettings(run_size=200))

A run takes the next `run_size` backfill items (priority 1 in `users_pending_changes`), most
recently active users first (`last_seen_at` descending), and fetches and stores their details
like a worker run (`apply.py`). It uses only the share of the detail limit that fresh changes
leave free: before each slot it looks for fresh changes (priority 0) still waiting for a slot
and, while there are any, takes none (`FreshChangesFirst`). Fresh changes that make no progress
for `stall_s` (their run failed, or was never launched) stop holding it back.

One backfill run at a time (scope `backfill`, `ScopeBusy` otherwise). Nothing to resume: a run
cut off leaves its unstored items queued, and the next run takes them again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient
from sync_pipeline.engine.scope_lock import scope_lock
from sync_pipeline.pipelines.users.apply import (
    PIPELINE,
    ApplyOutcome,
    ApplySettings,
    Committer,
    fetch_and_store,
)

SCOPE = "backfill"
_NEXT_ITEMS = """
SELECT p.id FROM users_pending_changes AS p LEFT JOIN users AS u ON u.id = p.id
WHERE p.priority = 1 AND p.quarantined_at IS NULL
ORDER BY u.last_seen_at DESC NULLS LAST, p.id
LIMIT %s
"""
_FRESH_WAITING = (
    "SELECT count(*) FROM users_pending_changes "
    "WHERE priority = 0 AND quarantined_at IS NULL AND sent_at IS NULL"
)


@dataclass(frozen=True)
class BackfillSettings:
    run_size: int = 200
    write_batch: int = 100
    flush_every_s: float = 30.0
    stall_s: float = 120.0


@dataclass
class BackfillOutcome:
    apply: ApplyOutcome
    yielded_s: float = 0.0
    yields: int = 0


class FreshChangesFirst:
    """The backfill's turn: wait while fresh changes are waiting for a slot and making progress."""

    def __init__(self, pool: ConnectionPool, stall_s: float, poll_s: float) -> None:
        self.pool, self.stall_s, self.poll_s = pool, stall_s, poll_s
        self.yielded_s = 0.0
        self.yields = 0
        self._last_count = 0
        self._last_change = time.monotonic()

    async def wait_turn(self) -> None:
        began = time.monotonic()
        waited = False
        while True:
            waiting = await asyncio.to_thread(self._fresh_waiting)
            now = time.monotonic()
            if waiting != self._last_count:
                self._last_count, self._last_change = waiting, now
            if waiting == 0 or now - self._last_change >= self.stall_s:
                break
            waited = True
            await asyncio.sleep(self.poll_s)
        if waited:
            self.yields += 1
            self.yielded_s += time.monotonic() - began

    def _fresh_waiting(self) -> int:
        with self.pool.connection() as conn:
            return conn.execute(_FRESH_WAITING).fetchone()[0]


def next_backfill_ids(conn: psycopg.Connection, limit: int) -> list[int]:
    """The next `limit` backfill items, most recently active users first."""
    return [user_id for (user_id,) in conn.execute(_NEXT_ITEMS, (limit,))]


async def backfill_details(
    pool: ConnectionPool,
    client: ApiClient,
    run_id: str,
    settings: BackfillSettings = BackfillSettings(),
) -> BackfillOutcome:
    """Fetch and store the details of the next `run_size` backfill items, fresh changes first.

    Raises `ScopeBusy` when another backfill run is going, what the client raises (batches
    stored before stay) and psycopg errors.
    """
    started = time.monotonic()
    rps = client.limiter.current_rps() or 10.0
    fresh_first = FreshChangesFirst(pool, settings.stall_s, poll_s=min(0.5, max(0.02, 0.5 / rps)))
    with pool.connection() as control, scope_lock(control, PIPELINE, SCOPE):
        # Committed at once: the lock is the session's, and a transaction left open while the
        # details are fetched (minutes at 1 request per 4 s) would be ended by the server.
        with control.transaction():
            ids = next_backfill_ids(control, settings.run_size)
        outcome = ApplyOutcome(requested=len(ids))
        committer = Committer(pool, run_id, None, outcome)
        apply_settings = ApplySettings(
            write_batch=settings.write_batch, flush_every_s=settings.flush_every_s
        )
        await fetch_and_store(pool, client, ids, committer, apply_settings, fresh_first.wait_turn)
    outcome.http = client.metrics.snapshot()
    outcome.elapsed_s = time.monotonic() - started
    return BackfillOutcome(outcome, fresh_first.yielded_s, fresh_first.yields)
