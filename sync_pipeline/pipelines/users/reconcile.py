"""The reconcile: one day's `updated_at` window, or every user, compared and repaired in one run.

    scope = ReconcileScope.for_day("2026-11-22", start, end, now)
    # or ReconcileScope.full_refresh()
    outcome = await reconcile_users(pool, list_client, detail_client, scope, run_id)

It goes through the live pair's code: the detector's walk (`listing.py`, every page, walked
again while unstable) and classification (`compare.py`, here ignoring pending requests, since
the reconcile stores what it finds itself), then the worker's `apply_users` for the changed
ids. So it repairs whatever the live pair missed (a failed worker run, a detector that was off).
On an empty table it bootstraps instead (`bootstrap.py`), whatever its scope: every user's summary
now, details by the backfill. A full refresh lists every user and also fetches the
live stored users the list no longer shows: each answers 404 (and is soft-deleted) or is stored
again. The list has no tombstones, so deletions cannot be seen any other way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient
from sync_pipeline.pipelines.users.apply import ApplyOutcome, ApplySettings, apply_users
from sync_pipeline.pipelines.users.bootstrap import (
    BootstrapOutcome,
    bootstrap_users,
    table_is_empty,
)
from sync_pipeline.pipelines.users.compare import Classification, classify
from sync_pipeline.pipelines.users.detect import fingerprint_summaries
from sync_pipeline.pipelines.users.listing import SummaryWalk, walk_summaries
from sync_pipeline.pipelines.users.window import Window

FULL_REFRESH_LABEL = "full"
_DEFAULT_APPLY = ApplySettings()


@dataclass(frozen=True)
class ReconcileScope:
    label: str
    window: Window

    @classmethod
    def for_day(cls, label: str, start: datetime, end: datetime, now: datetime) -> ReconcileScope:
        """The day's window, ended at `now` for today: a window in the past shows every change
        made during the walk as a changed total (see `listing.py`)."""
        return cls(label, Window(start, min(end, now)))

    @classmethod
    def full_refresh(cls) -> ReconcileScope:
        return cls(FULL_REFRESH_LABEL, Window(None, None))

    @property
    def is_full_refresh(self) -> bool:
        return self.window.since is None and self.window.until is None


@dataclass
class ReconcileOutcome:
    scope: ReconcileScope
    walk: SummaryWalk
    classification: Classification
    missing: int
    unfingerprintable: int
    apply: ApplyOutcome
    list_http: dict[str, Any]
    elapsed_s: float
    bootstrap: BootstrapOutcome | None = None


async def reconcile_users(
    pool: ConnectionPool,
    list_client: ApiClient,
    detail_client: ApiClient,
    scope: ReconcileScope,
    run_id: str,
    *,
    page_size: int = 500,
    walk_attempts: int = 3,
    settings: ApplySettings = _DEFAULT_APPLY,
    bootstrap_empty: bool = True,
    now: datetime | None = None,
) -> ReconcileOutcome:
    """List the scope, find what differs from the table, fetch and store it; on an empty table
    (with `bootstrap_empty`) store the summaries and queue the details for the backfill instead.

    Raises what the clients raise, `ScopeBusy` when another run reconciles the same scope, and
    psycopg errors; batches stored before a failure stay (a re-run finds them unchanged).
    """
    started = time.monotonic()
    if bootstrap_empty:
        with pool.connection() as conn:
            empty = table_is_empty(conn)
        if empty:
            return await _bootstrap(
                pool, list_client, scope, run_id, page_size, walk_attempts, now, started
            )
    walk = await walk_summaries(list_client, scope.window, page_size)
    for _ in range(walk_attempts - 1):
        if walk.stable:
            break
        walk = await walk_summaries(list_client, scope.window, page_size)
    seen, unfingerprintable = fingerprint_summaries(walk)
    with pool.connection() as conn:
        classification = classify(conn, seen)
        missing = _live_ids_not_listed(conn, walk) if scope.is_full_refresh else []
    applied = await apply_users(
        pool,
        detail_client,
        classification.changed + missing,
        run_id,
        scope=f"reconcile:{scope.label}",
        resumable=False,
        settings=settings,
    )
    return ReconcileOutcome(
        scope,
        walk,
        classification,
        len(missing),
        unfingerprintable,
        applied,
        list_client.metrics.snapshot(),
        time.monotonic() - started,
    )


async def _bootstrap(
    pool: ConnectionPool,
    list_client: ApiClient,
    scope: ReconcileScope,
    run_id: str,
    page_size: int,
    walk_attempts: int,
    now: datetime | None,
    started: float,
) -> ReconcileOutcome:
    # Every user, whatever the scope: a first sync of one day would otherwise leave the other
    # days to the detector, which would ask for their details as fresh changes.
    until = now or datetime.now(UTC)
    outcome = await bootstrap_users(
        pool,
        list_client,
        Window(None, until),
        run_id,
        page_size=page_size,
        walk_attempts=walk_attempts,
    )
    return ReconcileOutcome(
        scope,
        outcome.walk,
        Classification(),
        0,
        0,
        ApplyOutcome(requested=0),
        list_client.metrics.snapshot(),
        time.monotonic() - started,
        bootstrap=outcome,
    )


def _live_ids_not_listed(conn: psycopg.Connection, walk: SummaryWalk) -> list[int]:
    listed = walk.summaries.keys()
    return [
        user_id
        for (user_id,) in conn.execute("SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id")
        if user_id not in listed
    ]
