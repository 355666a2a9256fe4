"""The first sync: every user from the list in seconds, details queued for the backfill.

    outcome = await bootstrap_users(pool, list_client, window, run_id)

A fresh table is filled from `GET /users` alone (500 summaries a page at the list limit, so
50,000 users in about 10 s): each listed user gets a row with its summary columns set, its
detail columns NULL and `detail_synced_at` NULL, and a backfill item (priority 1) in
`users_pending_changes`. The detail backfill (`backfill.py`) then fills the rows in, most
recently active users first, in the share of the detail limit fresh changes leave free. Users
already stored are left alone; summaries that cannot be stored are quarantined with their reason.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient
from sync_pipeline.engine.http.progress import ProgressReporter
from sync_pipeline.engine.quarantine import quarantine_records
from sync_pipeline.entities.users import USERS
from sync_pipeline.pipelines.users.listing import SummaryWalk, walk_summaries
from sync_pipeline.pipelines.users.window import Window
from sync_pipeline.pipelines.users.write import STAGE, STAGE_COLUMNS, stage_records

CHUNK = 5000
BACKFILL = 1
_STORE_SUMMARIES = sql.SQL(
    "WITH stored AS ("
    "    INSERT INTO users AS t ({columns}, last_run_id) "
    "    SELECT {columns}, %(run_id)s FROM pg_temp.{stage} ORDER BY id "
    "    ON CONFLICT (id) DO NOTHING RETURNING t.id, t.summary_fingerprint, t.updated_at"
    ") INSERT INTO users_pending_changes (id, summary_fingerprint, updated_at, priority) "
    "SELECT id, summary_fingerprint, updated_at, %(priority)s FROM stored "
    "ON CONFLICT (id) DO NOTHING"
).format(columns=STAGE_COLUMNS, stage=STAGE)


@dataclass
class BootstrapOutcome:
    """What a bootstrap stored: rows inserted (each with a backfill item queued) and rejects."""

    walk: SummaryWalk
    inserted: int = 0
    already_stored: int = 0
    quarantined: int = 0
    sanitized_values: int = 0
    elapsed_s: float = 0.0


def table_is_empty(conn: psycopg.Connection) -> bool:
    """Whether `users` holds no row at all (a fresh install)."""
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM users)").fetchone()[0]


async def bootstrap_users(
    pool: ConnectionPool,
    client: ApiClient,
    window: Window,
    run_id: str,
    *,
    page_size: int = 500,
    walk_attempts: int = 3,
) -> BootstrapOutcome:
    """List every user of `window` and store the summaries of those not stored yet.

    The walk is repeated while users move under it (up to `walk_attempts`); what an unstable
    walk read is stored anyway (the detector then lists the window again). Raises what the
    client raises and psycopg errors; chunks stored before a failure stay.
    """
    started = time.monotonic()
    async with ProgressReporter(
        client.metrics, "users summaries", unit="users", logger=client.log
    ) as progress:

        def walk_once() -> Awaitable[SummaryWalk]:
            listed_before = client.metrics.rows
            return walk_summaries(
                client, window, page_size, on_total=lambda n: progress.set_total(listed_before + n)
            )

        walk = await walk_once()
        for _ in range(walk_attempts - 1):
            if walk.stable:
                break
            walk = await walk_once()
    outcome = BootstrapOutcome(walk)
    for chunk in _chunks(walk.summaries.values(), CHUNK):
        with pool.connection() as conn, conn.transaction():
            store_summaries(conn, chunk, run_id, outcome)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def store_summaries(
    conn: psycopg.Connection,
    summaries: list[dict[str, Any]],
    run_id: str,
    outcome: BootstrapOutcome,
) -> None:
    """Insert the summaries of users not stored yet and queue their backfill, in the caller's
    transaction; add the counts to `outcome`."""
    staged, rejected, sanitized = stage_records(conn, summaries)
    outcome.sanitized_values += sanitized
    if staged:
        inserted = conn.execute(_STORE_SUMMARIES, {"run_id": run_id, "priority": BACKFILL}).rowcount
        outcome.inserted += inserted
        outcome.already_stored += staged - inserted
    if rejected:
        outcome.quarantined += quarantine_records(conn, USERS, run_id, rejected)


def _chunks(items: Any, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
