"""`sync-pipeline bench stores`: every store's users and videos under the one per-app limit.

Its own reference upstream (300 stores, 2 pages of users and 4 of videos each at `limit=100`)
and a fresh scratch database per run on the application's server (created, migrated, dropped).
The pipeline runs as the `stores_sync` step runs it: the store list, then every live store at
once (`SYNC_CONCURRENCY` stores fetching users, `VIDEO_SYNC_CONCURRENCY` fetching videos,
defaults 30 and 20), with the `stores_api` resource's production client (1% under the limit,
the PostgreSQL-shared bucket) and a pool of `DB_POOL_SIZE` connections:

1. `seed` profile: 10 requests/s for the whole stores group, 1.5-2.4 s per call, one store
   answering `403 store_token_expired` (named by the benchmark, so it knows which). Wall time
   is from the first list request to the run's own `sync_logs` row; the utilization of the
   per-app limit is the requests the upstream answered within its limit over what the limit
   allows in that wall time (requests / rps / wall), so 1.0 is the physical bound; the
   requests over the limit are the upstream's own count of 429s. Printed against the
   original's 65 minutes (one store after another) and 11 minutes (30 / 20 at a time), the
   issue's reference figures, not measured here;
2. `hostile` profile, 60 stores (20 requests/s, 429 storms, 5xx, read timeouts, dropped connections,
   malformed and shifted pages, odd records, 2% of stores expired): the run must finish, every
   expired store be reported with its reason, no other store fail, and every healthy store
   hold exactly the upstream's records (read afterwards with the faults lifted), less the ones
   it quarantined.

Run it on an otherwise idle machine: `sync-pipeline bench stores --json /tmp/bench-stores.json`
(about three minutes for `seed` and two for `hostile`; `--quick`: 60 and 30 stores). Under
`hostile` the rate stays far below the limit: 3% of attempts start a 429 storm, and the client
answers each with a pause and a slower rate for a minute (`engine/http/token_bucket.py`), so 60
stores take about as long as 300 do under `seed`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx
from psycopg import sql
from psycopg_pool import ConnectionPool

from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.scratch import scratch_database
from sync_pipeline.defs.stores.resources import StoresApiResource
from sync_pipeline.engine.http import ApiClient
from sync_pipeline.pipelines.stores import (
    StoresRunOutcome,
    StoresSyncSettings,
    sync_store_list,
    sync_stores,
)
from sync_pipeline.pipelines.stores.settings import DEFAULT_RPS
from sync_pipeline.settings import pool_size
from sync_pipeline.upstream.process import UpstreamProcess

STORES, QUICK_STORES = 300, 60
HOSTILE_STORES, QUICK_HOSTILE_STORES = 60, 30
SEED_RPS, HOSTILE_RPS = 10.0, 20.0
MIN_UTILIZATION = 0.95
EXPIRED_SHARE = {"seed": 1 / 300, "hostile": 0.02}
ORIGINAL_SERIAL_S, ORIGINAL_PARALLEL_S = 65 * 60.0, 11 * 60.0
EXPIRED_CODE = "store_token_expired"
SEED = 11


@dataclass
class StoresMeasurement:
    """One run of every store under a profile, and what the upstream counted."""

    profile: str
    rps: float
    wall_s: float
    outcome: StoresRunOutcome
    expired: list[str]
    stats: dict[str, Any]
    mismatched: dict[str, tuple[int, int]]

    @property
    def mismatched_codes(self) -> set[str]:
        return {key.split(":", 1)[1] for key in self.mismatched}

    @property
    def healthy(self) -> list[str]:
        return [code for code in self.outcome.codes if code not in self.expired]

    @property
    def failed_otherwise(self) -> dict[str, str]:
        failed = self.outcome.failed_stores
        return {code: why for code, why in failed.items() if code not in self.expired}

    @property
    def expired_reported(self) -> int:
        failed = self.outcome.failed_stores
        return sum(1 for code in self.expired if EXPIRED_CODE in failed.get(code, ""))

    @property
    def over_limit(self) -> int:
        """429s that were the limit's, not an injected storm's."""
        return self.stats.get("throttled", 0) - self.stats.get("faults", {}).get("storm_429", 0)


def sizes(stores: int) -> dict[str, int]:
    return {
        "cars": 10,
        "users": 10,
        "stores": stores,
        "leaderboard_entries": 10,
        "contacts": 10,
        "workspaces": 1,
    }


def run(options: BenchOptions) -> BenchReport:
    report = BenchReport("stores")
    stores = QUICK_STORES if options.quick else STORES
    hostile_stores = QUICK_HOSTILE_STORES if options.quick else HOSTILE_STORES
    settings = StoresSyncSettings.from_env()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with UpstreamProcess(profile="none", seed=SEED, sizes=sizes(stores)) as upstream:
        seed = measure(upstream, "seed", SEED_RPS, settings)
        report_seed(report, seed, stores)
        upstream.admin("reset", {"seed": SEED, "sizes": sizes(hostile_stores)})
        hostile = measure(upstream, "hostile", HOSTILE_RPS, settings)
        report_hostile(report, hostile)
    report.environment.update(
        {
            "stores": stores,
            "hostile_stores": hostile_stores,
            "users_concurrency": settings.users_concurrency,
            "videos_concurrency": settings.videos_concurrency,
            "db_pool_size": pool_size(),
            "seed_rps": SEED_RPS,
            "hostile_rps": HOSTILE_RPS,
            "seed_expired_stores": seed.expired,
            "hostile_expired_stores": hostile.expired,
            "upstream_seed": SEED,
            "quick": options.quick,
            "wall_s": round(time.perf_counter() - started, 1),
            "load_average_1m_before": round(load_before, 2),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        }
    )
    return report


def measure(
    upstream: UpstreamProcess, profile: str, rps: float, settings: StoresSyncSettings
) -> StoresMeasurement:
    """Every store under `profile` (some of them expired), then checked against the upstream."""
    codes = [store["code"] for store in upstream_records(upstream, "/stores")]
    expired = expired_choice(codes, EXPIRED_SHARE[profile])
    resource = StoresApiResource(
        source="stores", base_url=upstream.url, rps=rps, default_rps=DEFAULT_RPS
    )
    config = resource.stores_config(settings)
    print(f"stores bench: {len(codes)} stores under `{profile}` at {rps:g} requests/s", flush=True)
    with (
        scratch_database(f"sync_bench_stores_{profile}") as url,
        open_pool(url, max_size=pool_size(), name=f"bench_stores_{profile}") as pool,
    ):
        upstream.admin(
            "faults", {"source": "stores", "profile": profile, "expired_stores": expired}
        )
        upstream.admin("stats/reset", {})

        async def main() -> tuple[StoresRunOutcome, float]:
            async with ApiClient(config, limiter_conninfo=url.conninfo()) as client:
                began = time.monotonic()
                listed = await sync_store_list(pool, client, f"bench-{profile}")
                outcome = await sync_stores(
                    pool, client, listed.live_codes, f"bench-{profile}", settings, logger=_log()
                )
                return outcome, time.monotonic() - began

        outcome, wall_s = asyncio.run(main())
        stats = upstream.admin("stats")["limit_groups"]["stores"]
        upstream.admin("faults", {"source": "stores", "profile": "none"})
        mismatched = compare_with_upstream(upstream, pool, outcome, expired)
    print(f"stores bench: {outcome.summary()[:300]}", flush=True)
    return StoresMeasurement(profile, rps, wall_s, outcome, expired, stats, mismatched)


def expired_choice(codes: list[str], share: float) -> list[str]:
    """`share` of the stores (at least one), spread evenly over the list."""
    count = max(1, round(share * len(codes)))
    step = len(codes) // count
    return [codes[i * step + step // 2] for i in range(count)]


def compare_with_upstream(
    upstream: UpstreamProcess,
    pool: ConnectionPool,
    outcome: StoresRunOutcome,
    expired: list[str],
) -> dict[str, tuple[int, int]]:
    """`job:code` -> (stored, upstream) for every healthy store whose live rows plus its
    quarantined records differ from the upstream's records (read with the faults lifted), or
    whose live ids are not all upstream ids."""
    results = {(o.job_name, o.code): o.result for o in outcome.outcomes if o.ok}
    wrong: dict[str, tuple[int, int]] = {}
    with pool.connection() as conn:
        for job_name, kind in (("store_users", "users"), ("store_videos", "videos")):
            query = sql.SQL(
                "SELECT store_code, array_agg(id) FROM {} WHERE deleted_at IS NULL "
                "GROUP BY store_code"
            ).format(sql.Identifier(job_name))
            rows = conn.execute(query).fetchall()
            live = {code: set(ids) for code, ids in rows}
            for code in outcome.codes:
                if code in expired:
                    continue
                want = {r["id"] for r in upstream_records(upstream, f"/stores/{code}/{kind}")}
                result = results.get((job_name, code))
                quarantined = result.quarantined if result is not None else 0
                have = live.get(code, set())
                if not have <= want or len(have) + quarantined != len(want):
                    wrong[f"{job_name}:{code}"] = (len(have) + quarantined, len(want))
    return wrong


def report_seed(report: BenchReport, seed: StoresMeasurement, stores: int) -> None:
    served = seed.stats.get("served", 0)
    bound_s = served / seed.rps
    report.at_least(
        "utilization of the per-app limit", bound_s / seed.wall_s, "ratio", MIN_UTILIZATION
    )
    report.at_most(f"wall time, {stores} stores", seed.wall_s, "s", bound_s / MIN_UTILIZATION)
    report.equal("requests over the limit", seed.over_limit, "count", 0)
    report.info("seed: requests answered by the upstream", served, "requests")
    report.info(f"seed: physical bound, requests / {seed.rps:g} per s", bound_s, "s")
    report.info(
        "seed: most requests in any 1 s (upstream's count; limit 10 + bucket 10)",
        seed.stats.get("max_requests_in_1s", 0),
        "requests",
    )
    report.equal(
        "seed: healthy stores synced",
        len(seed.healthy) - len(seed.mismatched_codes),
        "stores",
        len(seed.healthy),
    )
    report.equal(
        "seed: expired stores reported", seed.expired_reported, "stores", len(seed.expired)
    )
    report.equal("seed: stores failed for another reason", len(seed.failed_otherwise), "stores", 0)
    for job_name, limits in seed.outcome.concurrency.items():
        report.at_most(
            f"seed: peak stores at once, {job_name}",
            limits["peak_in_flight"],
            "stores",
            limits["setting"],
        )
    waiting = max((s["db_pool"]["waiting"] for s in seed.outcome.progress), default=0)
    report.info("seed: most connections waited for (pool samples)", waiting, "requests")
    report.info(
        "original: one store after another, issue's reference figure", ORIGINAL_SERIAL_S, "s"
    )
    report.info(
        "original: 30 / 20 stores at a time, issue's reference figure", ORIGINAL_PARALLEL_S, "s"
    )
    report.info("faster than the original's 65 min", ORIGINAL_SERIAL_S / seed.wall_s, "x")
    report.info("faster than the original's 11 min", ORIGINAL_PARALLEL_S / seed.wall_s, "x")


def report_hostile(report: BenchReport, hostile: StoresMeasurement) -> None:
    stores = len(hostile.outcome.codes)
    report.info(f"hostile: wall time, {stores} stores (the run finished)", hostile.wall_s, "s")
    report.equal(
        "hostile: healthy stores loaded",
        len(hostile.healthy) - len(hostile.mismatched_codes),
        "stores",
        len(hostile.healthy),
    )
    report.equal(
        "hostile: expired stores reported",
        hostile.expired_reported,
        "stores",
        len(hostile.expired),
    )
    report.equal(
        "hostile: stores failed for another reason", len(hostile.failed_otherwise), "stores", 0
    )
    http = hostile.outcome.http
    report.info(
        "hostile: requests answered by the upstream", hostile.stats.get("served", 0), "requests"
    )
    report.info("hostile: 429s (storms included)", hostile.stats.get("throttled", 0), "responses")
    report.info("hostile: retries", http.get("retries", 0), "requests")
    report.info(
        "hostile: records quarantined",
        sum(o.result.quarantined for o in hostile.outcome.outcomes if o.ok),
        "records",
    )
    lowered = sum(c["decreases"] for c in hostile.outcome.concurrency.values())
    report.info("hostile: times concurrency was lowered on a 429", lowered, "times")


def upstream_records(upstream: UpstreamProcess, path: str) -> list[dict]:
    """Every record of a cursor listing, straight from the upstream (no faults expected)."""
    records, cursor = [], None
    with httpx.Client(base_url=upstream.url, timeout=30) as http:
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            response = http.get(path, params=params)
            response.raise_for_status()
            body = response.json()
            records += body["data"]
            cursor = body["next_cursor"]
            if cursor is None:
                return records


def _log() -> logging.Logger:
    """Progress lines (every minute) on stderr."""
    logger = logging.getLogger("sync_pipeline.bench.stores")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
