"""Many stores at once: every store's users and videos, under one rate limit, each store alone.

`sync_stores` starts one task per (store, job). At most `users_concurrency` stores fetch users
and `videos_concurrency` fetch videos at any moment (`AdaptiveLimit`s, lowered on 429s and
regained on success); users and videos of different stores overlap, and the client's rate
limiter (one PostgreSQL bucket per API key, shared by every run and process) sets the pace.
Writes take a slot among `write_slots(pool)` so the pool is never asked for more connections
than it has. A failing store is logged and counted; the others go on.

A store's users start once its videos have (`LEADING_JOB`). Videos are the long chain (4 pages
to the users' 2, each page waiting for the one before), so left alone the users race ahead,
end at two thirds of the run, and leave 20 video chains to keep a 10/s limit busy at 1.5-2.4 s
per call: barely enough, and below it on a loaded machine (the seed benchmark's last minute ran
at 9.78 of the 9.9 requests/s it may send). Following the videos keeps users and videos of
different stores overlapping to the end.

It takes any list of codes, and everything runs share (the rate limit, the scope locks,
`sync_logs`) lives in PostgreSQL, so groups of stores (`store_groups`) can run as separate
steps or on separate workers and still stay under the one limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.adaptive_limit import AdaptiveLimit
from sync_pipeline.engine.http import ApiClient
from sync_pipeline.pipelines.stores.members import (
    LISTINGS,
    StoreOutcome,
    sync_store_members,
)
from sync_pipeline.pipelines.stores.progress import StoresProgress
from sync_pipeline.pipelines.stores.settings import StoresSyncSettings
from sync_pipeline.pipelines.stores.sync_logs import log_run, log_store

JOB_NAMES = tuple(LISTINGS)
LEADING_JOB = "store_videos"


@dataclass
class StoresRunOutcome:
    """Every store job of a run, the client's figures, progress samples and concurrency peaks."""

    codes: list[str]
    job_names: tuple[str, ...]
    outcomes: list[StoreOutcome]
    elapsed_s: float
    http: dict[str, Any]
    progress: list[dict[str, Any]] = field(default_factory=list)
    concurrency: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def failed_stores(self) -> dict[str, str]:
        """Code -> reason of every store with a failed job (reasons of its jobs, deduplicated)."""
        reasons: dict[str, list[str]] = {}
        for outcome in self.outcomes:
            if not outcome.ok and outcome.reason not in reasons.setdefault(outcome.code, []):
                reasons[outcome.code].append(outcome.reason)
        return {code: "; ".join(found) for code, found in sorted(reasons.items()) if found}

    @property
    def stores_ok(self) -> int:
        return len(self.codes) - len(self.failed_stores)

    @property
    def success_rate(self) -> float:
        return self.stores_ok / len(self.codes) if self.codes else 1.0

    @property
    def records(self) -> int:
        return sum(o.records for o in self.outcomes)

    def for_job(self, job_name: str) -> list[StoreOutcome]:
        return [o for o in self.outcomes if o.job_name == job_name]

    def totals(self, job_name: str) -> dict[str, int]:
        """Summed change-set counts of one job over its successful stores."""
        names = (
            "inserted",
            "updated",
            "unchanged",
            "soft_deleted",
            "quarantined",
            "duplicates",
            "diffs_logged",
        )
        results = [o.result for o in self.for_job(job_name) if o.result is not None]
        return {
            "records": sum(o.records for o in self.for_job(job_name)),
            **{name: sum(getattr(r, name) for r in results) for name in names},
        }

    def summary(self) -> str:
        """`298 of 300 stores synced; failed: AUS-0012 (store_token_expired (HTTP 403): ...)`."""
        text = f"{self.stores_ok} of {len(self.codes)} stores synced ({', '.join(self.job_names)})"
        failed = self.failed_stores
        if failed:
            text += "; failed: " + ", ".join(
                f"{code} ({reason})" for code, reason in failed.items()
            )
        return text


def write_slots(pool: ConnectionPool) -> int:
    """Stores written at once: each write holds two connections; one is left for the logs."""
    return max(1, (pool.max_size - 1) // 2)


def store_groups(codes: Sequence[str], size: int) -> list[list[str]]:
    """`codes` cut into groups of at most `size`, in order: the unit to hand to separate steps."""
    if size < 1:
        raise ValueError(f"group size must be at least 1, got {size}")
    return [list(codes[i : i + size]) for i in range(0, len(codes), size)]


async def sync_stores(
    pool: ConnectionPool,
    client: ApiClient,
    codes: Iterable[str],
    run_id: str,
    settings: StoresSyncSettings | None = None,
    *,
    job_names: Sequence[str] = JOB_NAMES,
    logger: logging.Logger | None = None,
) -> StoresRunOutcome:
    """Sync the users and/or videos (`job_names`) of every store in `codes`; log each store and
    then the run in `sync_logs`. Store failures are in the outcome; other errors are raised
    (the stores done so far stay written and logged)."""
    settings = settings or StoresSyncSettings()
    codes = list(dict.fromkeys(codes))
    unknown = [name for name in job_names if name not in LISTINGS]
    if unknown or not job_names:
        raise ValueError(f"job_names must be some of {list(LISTINGS)}, got {list(job_names)}")
    started = time.monotonic()
    limits = {
        name: AdaptiveLimit(
            settings.users_concurrency if name == "store_users" else settings.videos_concurrency
        )
        for name in job_names
    }
    writers = asyncio.Semaphore(write_slots(pool))
    progress = StoresProgress(
        pool, client.metrics, limits, len(codes), settings.progress_every_s, logger
    )

    leading = {code: asyncio.Event() for code in codes} if LEADING_JOB in limits else {}

    async def one(job_name: str, code: str) -> StoreOutcome:
        limit = limits[job_name]
        if leading and job_name != LEADING_JOB:
            await leading[code].wait()
        async with limit:
            if job_name == LEADING_JOB and leading:
                leading[code].set()
            outcome = await sync_store_members(
                pool,
                client,
                LISTINGS[job_name],
                code,
                run_id,
                settings.page_size,
                writers,
                on_page=lambda: limit.observe(client.metrics.throttled),
            )
        await asyncio.to_thread(log_store, pool, outcome, run_id)
        progress.job_done(code, outcome.ok)
        return outcome

    async with progress, asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(name, code)) for code in codes for name in job_names]
    outcome = StoresRunOutcome(
        codes,
        tuple(job_names),
        [task.result() for task in tasks],
        time.monotonic() - started,
        client.metrics.snapshot(),
        progress.samples,
        {
            name: {
                "setting": limit.maximum,
                "peak_in_flight": limit.peak_in_use,
                "lowest_limit": limit.lowest_limit,
                "decreases": limit.decreases,
            }
            for name, limit in limits.items()
        },
    )
    await asyncio.to_thread(
        log_run,
        pool,
        run_id,
        outcome.stores_ok,
        len(codes),
        outcome.summary(),
        outcome.records,
        outcome.elapsed_s,
    )
    return outcome
