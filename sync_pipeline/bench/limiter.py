"""`sync-pipeline bench limiter`: four processes on one API key share its limit through PostgreSQL.

Four OS processes (spawned, nothing inherited) each run an `ApiClient` whose rate limiter is the
PostgreSQL-backed bucket of one key, at the shipped pacing for a 20 requests/s limit, 16 requests
in flight each, for 20 s (`--quick`: 8 s). The reference upstream counts what arrives for that key:
the most requests in any one second must stay at the limit (20) with no 429, and together the
processes must still get at least 97.5% of 20/s through over the span they sent in. Beside the
upstream's count, the moments the limiter granted the requests (CLOCK_MONOTONIC, one clock for
every process on the machine) tell the limiter's own spacing from what scheduling added on the
way to the upstream's event loop. (a limiter that is merely
safe, e.g. each process at a quarter of the rate with gaps, would fail that).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from collections import deque
from typing import Any

from sync_pipeline.bench.http import CONCURRENCY, LIMIT_RPS
from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.db.connect import app_database_url
from sync_pipeline.db.migrations import migrate
from sync_pipeline.engine.http import ApiClient, ClientConfig
from sync_pipeline.engine.http.client import build_limiter
from sync_pipeline.upstream.auth import token_label
from sync_pipeline.upstream.process import UpstreamProcess

PROCESSES = 4
WINDOW_S, QUICK_WINDOW_S = 20.0, 8.0
MIN_SHARE = 0.975
START_DELAY_S = 8.0  # time for every spawned process to import and connect before the common start


def run(options: BenchOptions) -> BenchReport:
    window_s = QUICK_WINDOW_S if options.quick else WINDOW_S
    report = BenchReport("limiter")
    database = app_database_url()
    migrate(database)
    report.environment.update(
        {
            "processes": PROCESSES,
            "window_s": window_s,
            "limit_rps": LIMIT_RPS,
            "cpus": multiprocessing.cpu_count(),
        }
    )
    token, key = "bench-limiter", f"cars:bench-limiter-{uuid.uuid4().hex[:8]}"
    with UpstreamProcess(profile="none", sizes={"cars": 500}) as upstream:
        upstream.admin(
            "faults", {"source": "cars", "profile": "none", "rps": LIMIT_RPS, "burst": LIMIT_RPS}
        )
        start_at = time.monotonic() + START_DELAY_S
        args = (upstream.url, token, database.conninfo(), key, window_s, start_at)
        with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
            runs = [pool.apply_async(fetch_with_grants, args) for _ in range(PROCESSES)]
            results = [r.get(timeout=window_s + 180) for r in runs]
        stats = upstream.admin("stats")["limit_groups"]["cars"]["tokens"][token_label(token)]
    late = max(r["started_at"] for r in results) - start_at
    # Workers already waiting for a slot at the deadline still send once: count over the span the
    # requests were actually sent in, first start to last finish.
    span_s = max(r["finished_at"] for r in results) - min(r["started_at"] for r in results)
    report.at_most(
        f"{PROCESSES} processes, one key: max requests in any 1 s (upstream's count)",
        stats["max_requests_in_1s"],
        "requests",
        LIMIT_RPS,
    )
    report.equal(
        f"{PROCESSES} processes, one key: 429s (upstream's count)", stats["throttled"], "count", 0
    )
    report.at_least(
        f"{PROCESSES} processes, one key: requests / "
        f"({LIMIT_RPS:g}/s x the span they were sent in)",
        stats["requests"] / (LIMIT_RPS * span_s),
        "share",
        MIN_SHARE,
    )
    report.info(
        f"{PROCESSES} processes, one key: span from first start to last finish", span_s, "s"
    )
    report.info(
        f"{PROCESSES} processes, one key: requests (upstream's count)", stats["requests"], "count"
    )
    grants = [stamp for result in results for stamp in result["grants"]]
    report.info(
        f"{PROCESSES} processes, one key: max grants in any 1 s (the limiter's, monotonic clock)",
        most_in_any_window(grants),
        "grants",
    )
    report.info(
        f"{PROCESSES} processes, one key: slots given up (late in the database or on the way back)",
        sum(r["given_up"] for r in results),
        "count",
    )
    for number, result in enumerate(results, start=1):
        report.info(
            f"process {number}: share of the requests",
            result["pages"] / max(stats["requests"], 1),
            "share",
        )
    report.info("latest process start after the common start", late, "s")
    return report


class _StampedLimiter:
    """The client's limiter, noting when each request was let go."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.grants: list[float] = []

    async def acquire(self) -> None:
        await self.inner.acquire()
        self.grants.append(time.monotonic())

    async def throttle(self, pause_s: float) -> None:
        await self.inner.throttle(pause_s)

    def current_rps(self) -> float | None:
        return self.inner.current_rps()

    async def aclose(self) -> None:
        await self.inner.aclose()


def fetch_with_grants(
    base_url: str, token: str, conninfo: str, key: str, seconds: float, start_at: float
) -> dict[str, Any]:
    """From monotonic `start_at`, fetch car pages for `seconds` through a client on the shared
    bucket `key`, at the shipped pacing for a 20/s limit; returns pages, start, finish and
    grants."""
    config = ClientConfig(
        base_url,
        token=token,
        name="cars",
        rps=LIMIT_RPS,
        concurrency=CONCURRENCY,
        shared_limiter_key=key,
    )

    async def fetch() -> dict[str, Any]:
        limiter = _StampedLimiter(build_limiter(config, conninfo))
        async with ApiClient(config, limiter=limiter) as client:
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            started_at = time.monotonic()
            deadline = started_at + seconds

            async def worker(page: int) -> None:
                while time.monotonic() < deadline:
                    await client.get_json("/cars", {"page": page % 50 + 1, "page_size": 10})
                    page += CONCURRENCY

            await asyncio.gather(*(worker(first) for first in range(CONCURRENCY)))
            return {
                "pages": client.metrics.requests,
                "started_at": started_at,
                "finished_at": time.monotonic(),
                "grants": limiter.grants,
                "given_up": getattr(limiter.inner, "claims", 0)
                - getattr(limiter.inner, "grants", 0),
            }

    return asyncio.run(fetch())


def most_in_any_window(stamps: list[float], window_s: float = 1.0) -> int:
    """The most stamps within any window (t - window_s, t], as the upstream counts arrivals."""
    recent: deque[float] = deque()
    most = 0
    for stamp in sorted(stamps):
        recent.append(stamp)
        while recent[0] <= stamp - window_s:
            recent.popleft()
        most = max(most, len(recent))
    return most
