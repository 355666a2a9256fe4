"""`sync-pipeline bench users`: bootstrap, detector, worker and backfill against a rate-limited
detail endpoint.

Its own reference upstream (10,000 users) and a scratch database on the application's server
(created, migrated, dropped). A first detector tick on the empty table bootstraps it from the
list; the detail backfill then fills in all but `QUEUED` users with the detail limit lifted.
Then the detail endpoint gets a limit of 10 requests/s and 1-2 s latency (`/_admin/faults`),
and the clients run with the resources' production settings (`users/resources.py`), the detail
limit set to 10 through `USERS_DETAIL_RPS`:

1. 1% of users updated and 5% touched: one detector tick must ask for exactly the updated ids;
2. with a 1,000-user backfill queued and a bounded backfill run going, a user is updated, a tick
   runs and its worker run applies it: three times; the worst must be within the tick plus one
   request slot (plus the detail's response time and a commit);
3. end to end, backfill and fresh changes mixed: a backfill run of 600 users (`--quick`: 400)
   starts, and two ticks 20 s apart ask for 3% of users each (`--quick`: 2%); timed from the
   backfill's start to the commit of the last row. The tick's runs execute concurrently in
   threads (as the run queue would, up to its limit of 4), each with its own client, all
   drawing from the shared PostgreSQL bucket, and the backfill takes only the slots they leave
   free. A request
   per id the ticks asked for and per backfill item; the list then shows every updated user
   stored at its latest version;
4. every user updated: one detector tick over 10,000 changed users;
5. `--long` only: the real rate, 1 detail request per 4 s with 1.4-2 s latency, for about six
   minutes (a backfill run and a fresh change mixed): the measured users per hour (the
   requests after the first, which the bucket's one slot lets go at once, over the run).

The worker runs are `apply_users` / `backfill_details` called directly, as the asset does:
Dagster's own run launch (queue polling, process start) is not in the end-to-end figure. The
original design's 400 users/h and its optimized plan's 600-700 users/h are the issue's
reference figures, not measured here: they and ours over them go to the JSON's environment,
not into the figures. Without `--long`, the users/h at 1 request per 4 s is a
projection (the share of the limit measured at 10/s, applied to 0.25/s) and says so.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

from psycopg_pool import ConnectionPool

from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.scratch import scratch_database
from sync_pipeline.defs.users.partitions import partition_for
from sync_pipeline.defs.users.resources import users_api_resources
from sync_pipeline.engine.http import ApiClient, ClientConfig
from sync_pipeline.pipelines.users.apply import apply_users
from sync_pipeline.pipelines.users.backfill import (
    BackfillOutcome,
    BackfillSettings,
    backfill_details,
)
from sync_pipeline.pipelines.users.compare import classify
from sync_pipeline.pipelines.users.coverage import read_coverage
from sync_pipeline.pipelines.users.detect import (
    Detection,
    DetectorSettings,
    RunGroup,
    detect_changes,
    fingerprint_summaries,
)
from sync_pipeline.pipelines.users.listing import MAX_PAGE_SIZE, SummaryWalk, walk_summaries
from sync_pipeline.pipelines.users.window import DetectorCursor, Window, parse_instant
from sync_pipeline.upstream.process import UpstreamProcess

USERS = 10_000
QUEUED = 1_000
LATENCY_BACKFILL_RUN = 200
LATENCY_SAMPLES = 3
SECOND_TICK_AFTER_S = 20.0
WRITE_ALLOWANCE_S = 0.5
LIMIT_RPS = 10.0
LATENCY_MS = [1000, 2000]
SEED_LATENCY_MS = [1400, 2000]
LONG_BACKFILL_RUN = 88
LONG_FRESH_AFTER_S = 60.0
RUN_QUEUE_LIMIT = 4
ORIGINAL_PER_HOUR, PLAN_LOW_PER_HOUR, PLAN_HIGH_PER_HOUR = 400.0, 600.0, 700.0
SEED_RPS = 0.25
SIZES = {
    "cars": 10,
    "users": USERS,
    "stores": 1,
    "leaderboard_entries": 10,
    "contacts": 10,
    "workspaces": 1,
}


def run(options: BenchOptions) -> BenchReport:
    report = BenchReport("users")
    started = time.perf_counter()
    e2e_share = 0.04 if options.quick else 0.06
    e2e_backfill = 400 if options.quick else 600
    with (
        UpstreamProcess(profile="none", sizes=SIZES) as upstream,
        scratch_database("sync_bench_users") as url,
        _environment({"SYNC_USERS_API_URL": upstream.url, "USERS_DETAIL_RPS": str(LIMIT_RPS)}),
        open_pool(url, max_size=2 * RUN_QUEUE_LIMIT + 4, name="bench_users") as pool,
    ):
        resources = users_api_resources()
        list_config, detail_config = (
            resources["users_api"].client_config(),
            resources["users_detail_api"].client_config(),
        )
        conninfo = url.conninfo()
        cursor = fill_table(pool, conninfo, list_config, detail_config, report)
        upstream.admin(
            "faults",
            {
                "source": "users",
                "endpoint": "users.detail",
                "rps": LIMIT_RPS,
                "latency_ms": LATENCY_MS,
            },
        )
        upstream.admin("stats/reset", {})
        cursor = measure_touch_filter(
            pool, conninfo, upstream, list_config, detail_config, cursor, report
        )
        cursor = measure_fresh_change_latency(
            pool, conninfo, upstream, list_config, detail_config, cursor, report
        )
        cursor = measure_end_to_end(
            pool,
            conninfo,
            upstream,
            list_config,
            detail_config,
            cursor,
            e2e_share,
            e2e_backfill,
            report,
        )
        if options.long:
            cursor = measure_real_rate(
                pool, conninfo, upstream, list_config, detail_config, cursor, report
            )
        measure_big_tick(pool, conninfo, upstream, list_config, cursor, report)
    report.environment.update(
        {
            "users": USERS,
            "backfill_queued": QUEUED,
            "long": options.long,
            "detail_limit_rps": LIMIT_RPS,
            "detail_latency_ms": LATENCY_MS,
            "detail_concurrency": detail_config.concurrency,
            "detail_rate_headroom": detail_config.rate_headroom,
            "wall_s": round(time.perf_counter() - started, 1),
        }
    )
    return report


def fill_table(
    pool: ConnectionPool,
    conninfo: str,
    list_config: ClientConfig,
    detail_config: ClientConfig,
    report: BenchReport,
) -> DetectorCursor:
    """Bootstrap from the list (first tick on the empty table), the backfill with no detail limit
    for all but `QUEUED` users, then a fresh detector's tick that finds nothing to do."""
    unlimited = replace(detail_config, rps=None, shared_limiter_key=None)
    bootstrap = tick(pool, conninfo, list_config, DetectorCursor())
    stored = bootstrap.bootstrap.inserted if bootstrap.bootstrap else 0
    report.equal("bootstrap: users stored from the list, detail pending", stored, "users", USERS)
    report.at_most(
        f"bootstrap: {USERS:,} users from the list (first tick on an empty table)",
        bootstrap.elapsed_s,
        "s",
        10,
    )
    report.equal("bootstrap: detail requests asked for", bootstrap.requested, "ids", 0)

    async def backfill() -> BackfillOutcome:
        async with ApiClient(unlimited) as fetcher:
            return await backfill_details(
                pool,
                fetcher,
                "bench-fill",
                BackfillSettings(run_size=USERS - QUEUED, write_batch=500),
            )

    began = time.perf_counter()
    filled = asyncio.run(backfill())
    report.info(
        f"backfill of {filled.apply.fetched:,} details (no detail limit)",
        time.perf_counter() - began,
        "s",
    )
    report.equal("backfill left queued", _queued(pool)["backfill"], "users", QUEUED)
    detection = tick(pool, conninfo, list_config, DetectorCursor())
    report.equal("first tick on a filled table: ids requested", detection.requested, "ids", 0)
    report.info("first tick: users compared", detection.seen, "users")
    report.info("first tick: time", detection.elapsed_s, "s")
    return detection.cursor


def measure_touch_filter(
    pool: ConnectionPool,
    conninfo: str,
    upstream: UpstreamProcess,
    list_config: ClientConfig,
    detail_config: ClientConfig,
    cursor: DetectorCursor,
    report: BenchReport,
) -> DetectorCursor:
    mutation = upstream.admin("mutate", {"source": "users", "update": 0.01, "touch": 0.05})
    updated, touched = set(mutation["updated"]), set(mutation["touched"])
    detection = tick(pool, conninfo, list_config, cursor)
    asked = {user_id for group in detection.groups for user_id in group.ids}
    report.info("1% updated + 5% touched: users updated", len(updated), "users")
    report.info("1% updated + 5% touched: users touched", len(touched), "users")
    report.equal("1%/5%: ids requested", len(asked), "ids", len(updated))
    report.equal("1%/5%: updated ids not requested", len(updated - asked), "ids", 0)
    report.equal("1%/5%: touched ids requested", len(asked & touched), "ids", 0)
    run_groups(pool, conninfo, detail_config, detection.groups)
    return detection.cursor


def measure_fresh_change_latency(
    pool: ConnectionPool,
    conninfo: str,
    upstream: UpstreamProcess,
    list_config: ClientConfig,
    detail_config: ClientConfig,
    cursor: DetectorCursor,
    report: BenchReport,
) -> DetectorCursor:
    """A fresh change applied while a bounded backfill run of a 1,000-user queue is going."""
    report.info("backfill queued when the fresh changes arrive", _queued(pool)["backfill"], "users")
    backfill = BackfillThread(
        pool, conninfo, detail_config, LATENCY_BACKFILL_RUN, "bench-backfill-latency"
    )
    time.sleep(2.0)
    samples = []
    for _ in range(LATENCY_SAMPLES):
        upstream.admin("mutate", {"source": "users", "update": 1 / USERS})
        began = time.perf_counter()
        detection = tick(pool, conninfo, list_config, cursor)
        tick_s = time.perf_counter() - began
        run_groups(pool, conninfo, detail_config, detection.groups)
        samples.append((time.perf_counter() - began, tick_s, detection.requested))
        cursor = detection.cursor
        time.sleep(1.0)
    busy = backfill.running()
    outcome = backfill.join()
    worst, worst_tick_s, _ = max(samples)
    slot_s = 1 / LIMIT_RPS
    target = worst_tick_s + slot_s + LATENCY_MS[1] / 1000 + WRITE_ALLOWANCE_S
    report.equal(
        "fresh change latency: changes asked for",
        sum(n for _, _, n in samples),
        "ids",
        LATENCY_SAMPLES,
    )
    report.equal(
        "fresh change latency: backfill still running when the last was applied", int(busy), "", 1
    )
    report.at_most("fresh change latency with backfill queued", worst, "s", round(target, 2))
    report.info("fresh change latency: its detector tick", worst_tick_s, "s")
    report.info("fresh change latency: budget (tick + 1 slot + p99 response + commit)", target, "s")
    report.info(
        "fresh change latency: median of samples",
        sorted(s for s, _, _ in samples)[len(samples) // 2],
        "s",
    )
    report.info("backfill: time it yielded to fresh changes", outcome.yielded_s, "s")
    return cursor


def measure_end_to_end(
    pool: ConnectionPool,
    conninfo: str,
    upstream: UpstreamProcess,
    list_config: ClientConfig,
    detail_config: ClientConfig,
    cursor: DetectorCursor,
    share: float,
    backfill_size: int,
    report: BenchReport,
) -> DetectorCursor:
    """A backfill run and two ticks of fresh changes mixed; the share of the limit they used."""
    requests_before = _detail_stats(upstream)["requests"]
    began = time.perf_counter()
    backfill = BackfillThread(pool, conninfo, detail_config, backfill_size, "bench-backfill-e2e")
    mutated_since: datetime | None = None
    fresh: list[int] = []
    asked = 0
    ticks_s = []
    with ThreadPoolExecutor(2) as ticks:
        runs = []
        for number in range(2):
            if number:
                time.sleep(max(0.0, began + SECOND_TICK_AFTER_S - time.perf_counter()))
            mutation = upstream.admin("mutate", {"source": "users", "update": share / 2})
            fresh += mutation["updated"]
            mutated_since = mutated_since or parse_instant(mutation["updated_at"])
            tick_began = time.perf_counter()
            detection = tick(pool, conninfo, list_config, cursor)
            ticks_s.append(time.perf_counter() - tick_began)
            cursor = detection.cursor
            asked += detection.requested
            runs.append(ticks.submit(run_groups, pool, conninfo, detail_config, detection.groups))
        for done in runs:
            done.result()
    outcome = backfill.join()
    elapsed = time.perf_counter() - began
    stats = _detail_stats(upstream)
    # One detail request per id asked for: a user updated by both mutations whose first run
    # fetched the second version is asked for once, so the ids asked for are what was applied.
    applied = asked + outcome.apply.fetched
    left = _queued(pool)["fresh"]
    applied_per_s = applied / elapsed
    efficiency = applied_per_s / LIMIT_RPS
    report.info("end to end: users updated (fresh changes, two ticks)", len(set(fresh)), "users")
    report.info("end to end: fresh changes asked for by the two ticks", asked, "ids")
    report.info("end to end: backfill details fetched meanwhile", outcome.apply.fetched, "users")
    report.equal(
        "end to end: detail requests", stats["requests"] - requests_before, "requests", applied
    )
    report.equal("end to end: changes left unapplied", left, "users", 0)
    report.equal(
        "end to end: users updated whose latest version is not stored",
        stale_users(pool, conninfo, list_config, mutated_since),
        "users",
        0,
    )
    report.info("end to end: detector ticks (slowest)", max(ticks_s), "s")
    report.info("end to end: backfill start to last commit", elapsed, "s")
    report.info("end to end: time the backfill yielded to fresh changes", outcome.yielded_s, "s")
    report.at_least(
        "end to end: users applied per second", applied_per_s, "users/s", 0.97 * LIMIT_RPS
    )
    report.at_least("end to end: share of the detail limit", 100 * efficiency, "%", 97)
    report.at_most(
        "detail requests in any 1 s, upstream's count (limit 10/s + burst 10)",
        stats["max_requests_in_1s"],
        "requests",
        LIMIT_RPS + 10,
    )
    report.equal("detail 429s", stats["throttled"], "responses", 0)
    per_hour = SEED_RPS * 3600 * efficiency
    report.at_least(
        "users/h per API key at 1 request per 4 s, projected (limit x share measured at 10/s)",
        per_hour,
        "users/h",
        873,
    )
    report.environment["reference_figures"] = reference_comparison("projected", per_hour)
    return cursor


def reference_comparison(kind: str, per_hour: float) -> dict[str, float | str]:
    """Ours against the issue's constants (400/h, 600-700/h): not measured here, so kept out of
    the figures (no ratio of a median to a constant passes for a measured ratio)."""
    return {
        "note": "the issue's reference figures are constants, not measured by this benchmark",
        "original_design_users_per_h": ORIGINAL_PER_HOUR,
        "optimized_plan_users_per_h": "600-700",
        f"ours_{kind}_over_original": round(per_hour / ORIGINAL_PER_HOUR, 3),
        f"ours_{kind}_over_plan_low": round(per_hour / PLAN_LOW_PER_HOUR, 3),
        f"ours_{kind}_over_plan_high": round(per_hour / PLAN_HIGH_PER_HOUR, 3),
    }


def measure_real_rate(
    pool: ConnectionPool,
    conninfo: str,
    upstream: UpstreamProcess,
    list_config: ClientConfig,
    detail_config: ClientConfig,
    cursor: DetectorCursor,
    report: BenchReport,
) -> DetectorCursor:
    """`--long`: about six minutes at 1 detail request per 4 s, a backfill run and a fresh
    change."""
    upstream.admin(
        "faults",
        {
            "source": "users",
            "endpoint": "users.detail",
            "rps": SEED_RPS,
            "latency_ms": SEED_LATENCY_MS,
        },
    )
    real = replace(detail_config, rps=SEED_RPS)
    requests_before = _detail_stats(upstream)["requests"]
    began = time.perf_counter()
    backfill = BackfillThread(pool, conninfo, real, LONG_BACKFILL_RUN, "bench-backfill-real-rate")
    time.sleep(LONG_FRESH_AFTER_S)
    updated = upstream.admin("mutate", {"source": "users", "update": 1 / USERS})["updated"]
    detection = tick(pool, conninfo, list_config, cursor)
    run_groups(pool, conninfo, real, detection.groups)
    fresh_s = time.perf_counter() - began - LONG_FRESH_AFTER_S
    outcome = backfill.join()
    elapsed = time.perf_counter() - began
    stats = _detail_stats(upstream)
    applied = detection.requested + outcome.apply.fetched
    # The first request goes at once (the bucket holds one slot): counting it would put a short
    # run above the pace the limit allows, so the rate counts the requests after it.
    per_hour = 3600 * (applied - 1) / elapsed
    report.info("real rate: users updated", len(updated), "users")
    report.info("real rate: run length", elapsed, "s")
    report.equal(
        "real rate: detail requests", stats["requests"] - requests_before, "requests", applied
    )
    report.equal("real rate: detail 429s", stats["throttled"], "responses", 0)
    report.info("real rate: fresh change applied after (tick + run)", fresh_s, "s")
    report.at_least(
        "users/h per API key at 1 request per 4 s, measured (--long)", per_hour, "users/h", 873
    )
    report.environment["reference_figures_measured"] = reference_comparison("measured", per_hour)
    upstream.admin(
        "faults",
        {"source": "users", "endpoint": "users.detail", "rps": LIMIT_RPS, "latency_ms": LATENCY_MS},
    )
    return detection.cursor


def stale_users(
    pool: ConnectionPool, conninfo: str, list_config: ClientConfig, since: datetime | None
) -> int:
    """Users the list shows updated since `since` whose stored summary is not the listed one."""

    async def walk() -> SummaryWalk:
        async with ApiClient(list_config, limiter_conninfo=conninfo) as client:
            return await walk_summaries(client, Window(since, None), MAX_PAGE_SIZE)

    seen, _ = fingerprint_summaries(asyncio.run(walk()))
    with pool.connection() as conn:
        return classify(conn, seen).counts["changed"]


def measure_big_tick(
    pool: ConnectionPool,
    conninfo: str,
    upstream: UpstreamProcess,
    list_config: ClientConfig,
    cursor: DetectorCursor,
    report: BenchReport,
) -> None:
    updated = upstream.admin("mutate", {"source": "users", "update": 1.0})["updated"]
    detection = tick(pool, conninfo, list_config, cursor)
    report.equal(
        "tick on every user updated: ids requested", detection.requested, "ids", len(updated)
    )
    report.info("tick on every user updated: list pages", detection.walk.pages_read, "pages")
    report.info("tick on every user updated: worker runs asked for", len(detection.groups), "runs")
    report.at_most(f"detector tick on {len(updated):,} updated users", detection.elapsed_s, "s", 5)


def tick(
    pool: ConnectionPool, conninfo: str, list_config: ClientConfig, cursor: DetectorCursor
) -> Detection:
    """One detector tick with the sensor's settings (`USERS_BATCH` 500, 40 pages of 500)."""
    now = datetime.now(UTC)

    async def detect() -> Detection:
        async with ApiClient(list_config, limiter_conninfo=conninfo) as client:
            return await detect_changes(
                pool, client, cursor, DetectorSettings(), lambda s: partition_for(s, now), now
            )

    return asyncio.run(detect())


def run_groups(
    pool: ConnectionPool, conninfo: str, detail_config: ClientConfig, groups: list[RunGroup]
) -> None:
    """The tick's worker runs, up to the run queue's limit at once, each in its own thread and
    loop."""

    def work(group: RunGroup) -> None:
        async def apply() -> None:
            async with ApiClient(detail_config, limiter_conninfo=conninfo) as client:
                await apply_users(
                    pool,
                    client,
                    group.ids,
                    f"bench-{group.run_key}",
                    scope=f"worker:{group.run_key}",
                )

        asyncio.run(apply())

    with ThreadPoolExecutor(RUN_QUEUE_LIMIT) as runs:
        list(runs.map(work, groups))


class BackfillThread:
    """One backfill run (`backfill_details`) in a thread of its own, with its own client."""

    def __init__(
        self,
        pool: ConnectionPool,
        conninfo: str,
        detail_config: ClientConfig,
        run_size: int,
        run_id: str,
    ) -> None:
        self._pool, self._conninfo, self._config = pool, conninfo, detail_config
        self._settings, self._run_id = BackfillSettings(run_size=run_size), run_id
        self._outcome: BackfillOutcome | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=run_id)
        self._thread.start()

    def _run(self) -> None:
        async def backfill() -> BackfillOutcome:
            async with ApiClient(self._config, limiter_conninfo=self._conninfo) as client:
                return await backfill_details(self._pool, client, self._run_id, self._settings)

        try:
            self._outcome = asyncio.run(backfill())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by join()
            self._error = exc

    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> BackfillOutcome:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome


def _queued(pool: ConnectionPool) -> dict[str, int]:
    with pool.connection() as conn:
        coverage = read_coverage(conn)
    return {"fresh": coverage.fresh_pending, "backfill": coverage.backfill_pending}


def _detail_stats(upstream: UpstreamProcess) -> dict:
    detail = upstream.admin("stats")["endpoints"]["users.detail"]
    return {
        "requests": detail["requests"],
        "throttled": detail.get("throttled", 0),
        "max_requests_in_1s": detail.get("max_requests_in_1s", 0),
    }


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
