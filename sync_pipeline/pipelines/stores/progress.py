"""A stores run's progress: stores processed of the total, and the database pool's state.

A line goes to the log every `every_s` seconds (default a minute) and once at the end; every
line is also kept as a sample, so the run's metadata shows the same timeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any, Self

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.adaptive_limit import AdaptiveLimit
from sync_pipeline.engine.http import HttpMetrics


def pool_stats(pool: ConnectionPool) -> dict[str, int]:
    """The pool's `size` (its maximum, `DB_POOL_SIZE`), connections `in_use` and requests
    `waiting`."""
    stats = pool.get_stats()
    return {
        "size": pool.max_size,
        "in_use": stats.get("pool_size", 0) - stats.get("pool_available", 0),
        "waiting": stats.get("requests_waiting", 0),
    }


class StoresProgress:
    """Counts finished store jobs; a store is processed once all its jobs have ended."""

    def __init__(
        self,
        pool: ConnectionPool,
        metrics: HttpMetrics,
        limits: dict[str, AdaptiveLimit],
        stores: int,
        every_s: float = 60.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.pool, self.metrics, self.limits = pool, metrics, limits
        self.stores, self.every_s = stores, every_s
        self.logger = logger or logging.getLogger(__name__)
        self.samples: list[dict[str, Any]] = []
        self.failed = 0
        self._jobs_done: Counter[str] = Counter()
        self._started = time.monotonic()
        self._task: asyncio.Task | None = None

    def job_done(self, code: str, ok: bool) -> None:
        self._jobs_done[code] += 1
        self.failed += not ok

    @property
    def processed(self) -> int:
        jobs = len(self.limits)
        return sum(1 for count in self._jobs_done.values() if count >= jobs)

    def sample(self) -> dict[str, Any]:
        percent = 100.0 * self.processed / self.stores if self.stores else 100.0
        return {
            "elapsed_s": round(time.monotonic() - self._started, 1),
            "processed": self.processed,
            "total": self.stores,
            "percent": round(percent, 1),
            "failed_jobs": self.failed,
            "requests": self.metrics.requests,
            "http_429": self.metrics.throttled,
            "in_flight": {name: limit.in_use for name, limit in self.limits.items()},
            "limits": {name: limit.limit for name, limit in self.limits.items()},
            "db_pool": pool_stats(self.pool),
        }

    def line(self, sample: dict[str, Any]) -> str:
        flight = ", ".join(
            f"{name} {sample['in_flight'][name]}/{sample['limits'][name]}" for name in self.limits
        )
        db = sample["db_pool"]
        return (
            f"stores: {sample['processed']}/{sample['total']} processed "
            f"({sample['percent']:.1f}%), {sample['failed_jobs']} failed jobs; in flight {flight}; "
            f"{sample['requests']} requests, {sample['http_429']} 429s; db pool size {db['size']}, "
            f"in use {db['in_use']}, waiting {db['waiting']}"
        )

    def report(self) -> dict[str, Any]:
        sample = self.sample()
        self.samples.append(sample)
        self.logger.info("%s", self.line(sample))
        return sample

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            self.report()

    async def __aenter__(self) -> Self:
        self._started = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="stores-progress")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.report()
