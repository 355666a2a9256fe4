"""Stores at once: the concurrency settings hold, the per-app limit holds (upstream's own
count), and throttling lowers concurrency without failing any store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from sync_pipeline.pipelines.stores import store_groups
from sync_pipeline_tests.pipelines.stores.conftest import (
    FAST,
    SMALL_SIZES,
    STORE_COUNT,
    run_stores,
    upstream_records,
)

LIMIT_RPS = 20


def stores_group_stats(upstream) -> dict:
    return upstream.admin("stats")["limit_groups"]["stores"]


def test_concurrency_never_exceeds_its_settings_and_the_limit_is_never_exceeded(
    pool, stores_upstream
):
    stores_upstream.admin(
        "faults",
        {
            "source": "stores",
            "rps": LIMIT_RPS,
            "burst": LIMIT_RPS,
            "latency_ms": [60, 120],
        },
    )
    stores_upstream.admin("stats/reset", {})
    settings = replace(FAST, users_concurrency=2, videos_concurrency=3)
    _, outcome = run_stores(pool, stores_upstream, "run-limit", settings=settings, rps=LIMIT_RPS)
    assert outcome.stores_ok == STORE_COUNT
    assert outcome.concurrency["store_users"]["peak_in_flight"] == 2
    assert outcome.concurrency["store_videos"]["peak_in_flight"] == 3
    stats = stores_group_stats(stores_upstream)
    assert stats["requests"] == outcome.http["requests"] == 1 + 6 * STORE_COUNT
    assert stats["throttled"] == 0
    # the limit is a bucket of LIMIT_RPS refilled at LIMIT_RPS/s: at most twice that in any second
    assert stats["max_requests_in_1s"] <= 2 * LIMIT_RPS


def test_throttling_lowers_concurrency_and_fails_no_store(pool, stores_upstream):
    codes = sorted(s["code"] for s in upstream_records(stores_upstream, "/stores"))[:2]
    stores_upstream.admin("faults", {"source": "stores", "rps": 10, "burst": 1})
    stores_upstream.admin("stats/reset", {})
    settings = replace(FAST, users_concurrency=3, videos_concurrency=3)
    _, outcome = run_stores(
        pool, stores_upstream, "run-429", settings=settings, rps=40, codes=codes
    )
    assert outcome.stores_ok == 2 and outcome.failed_stores == {}
    assert outcome.http["http_429"] > 0 and stores_group_stats(stores_upstream)["throttled"] > 0
    lowered = [
        c
        for c in outcome.concurrency.values()
        if c["decreases"] > 0 and c["lowest_limit"] < c["setting"]
    ]
    assert lowered


def test_two_runs_at_once_share_the_one_per_app_limit(pool, upstream_factory):
    """Each run's client may send LIMIT_RPS on its own; together they still send LIMIT_RPS,
    because the bucket is the API key's, in PostgreSQL, not the run's."""
    upstream = upstream_factory(sizes={**SMALL_SIZES, "stores": 10})
    codes = sorted(s["code"] for s in upstream_records(upstream, "/stores"))
    upstream.admin("faults", {"source": "stores", "rps": LIMIT_RPS, "burst": LIMIT_RPS // 2})
    upstream.admin("stats/reset", {})
    groups = store_groups(codes, len(codes) // 2)
    with ThreadPoolExecutor(len(groups)) as threads:
        runs = list(
            threads.map(
                lambda group: run_stores(
                    pool, upstream, f"run-{group[0]}", codes=group, rps=LIMIT_RPS
                )[1],
                groups,
            )
        )
    assert [run.stores_ok for run in runs] == [len(group) for group in groups]
    stats = stores_group_stats(upstream)
    assert stats["requests"] == 6 * len(codes)
    # unshared, the two runs would send twice the limit: far more than the bucket's 10 spare
    assert stats["throttled"] == 0
    assert stats["max_requests_in_1s"] <= LIMIT_RPS + LIMIT_RPS // 2
