"""The PostgreSQL-backed bucket: one rate for every process using a key, 429 pauses shared."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid

import pytest

from sync_pipeline.engine.http.errors import RateLimiterUnavailable
from sync_pipeline.engine.http.shared_bucket import SharedTokenBucket
from sync_pipeline_tests.engine.http.workers import acquire_times


def most_in_any_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    return max(sum(1 for s in stamps if start <= s < start + 1.0) for start in stamps)


def test_two_processes_on_one_key_share_one_rate(db_url):
    rate, per_process = 38.0, 60
    key = f"test:{uuid.uuid4().hex}"
    start_at = time.monotonic() + 3.0
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = [pool.apply_async(acquire_times, (db_url.conninfo(), key, rate, per_process, start_at))
                   for _ in range(2)]
        first, second = (r.get(timeout=60) for r in results)
    merged = first + second
    assert len(merged) == 2 * per_process
    # each process alone would take 38/s; sharing, the two together stay at one rate (a slot of slack
    # for scheduling jitter: 40 allowed, unshared would be about 76)
    assert most_in_any_second(merged) <= 40
    assert min(first) < max(second) and min(second) < max(first), "the two processes did not overlap"


def test_a_pause_from_one_bucket_holds_every_bucket_on_the_key(db_url):
    key = f"test:{uuid.uuid4().hex}"

    async def run() -> float:
        one = SharedTokenBucket(db_url.conninfo(), key, rate=50.0)
        other = SharedTokenBucket(db_url.conninfo(), key, rate=50.0)
        try:
            await one.acquire()
            await one.throttle(0.6)
            started = time.monotonic()
            await other.acquire()
            return time.monotonic() - started
        finally:
            await one.aclose()
            await other.aclose()

    assert asyncio.run(run()) >= 0.55


def test_leased_slots_not_used_in_time_are_dropped_not_bunched(db_url):
    key = f"test:{uuid.uuid4().hex}"

    async def run() -> list[float]:
        bucket = SharedTokenBucket(db_url.conninfo(), key, rate=20.0, lease_s=0.5)
        try:
            await bucket.acquire()  # leases 10 slots, uses one
            await asyncio.sleep(0.6)  # the other nine go stale
            stamps = []
            for _ in range(4):
                await bucket.acquire()
                stamps.append(time.monotonic())
            return stamps
        finally:
            await bucket.aclose()

    stamps = asyncio.run(run())
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    # Bunched stale slots would come back-to-back (gaps near 0). Paced ones are 50 ms apart; one
    # late wake-up on a busy machine shortens the next gap, so judge each gap loosely and the span tightly.
    assert min(gaps) >= 0.025
    assert stamps[-1] - stamps[0] >= 3 * 0.05 - 0.005


def test_slowdown_after_429s_is_shared_and_counted_once_per_pause(db_url):
    key = f"test:{uuid.uuid4().hex}"

    async def run() -> tuple[float | None, float | None, int]:
        bucket = SharedTokenBucket(db_url.conninfo(), key, rate=100.0, rate_factor=0.5)
        other = SharedTokenBucket(db_url.conninfo(), key, rate=100.0, rate_factor=0.5)
        try:
            for _ in range(3):  # three requests in flight all got 429 for one excess
                await bucket.throttle(0.2)
            await other.acquire()
            once = other.current_rps()
            await asyncio.sleep(0.05)
            await bucket.throttle(0.0)  # a 429 after the pause ended lowers the rate again
            await bucket.acquire()
            return once, bucket.current_rps(), other.leases
        finally:
            await bucket.aclose()
            await other.aclose()

    once, twice, leases = asyncio.run(run())
    assert once == pytest.approx(50.0) and twice == pytest.approx(25.0) and leases == 1


def test_unreachable_database_is_a_clear_error_without_the_password():
    conninfo = "host=127.0.0.1 port=9 dbname=nothing user=someone password=pw-secret-123 connect_timeout=2"

    async def run() -> None:
        bucket = SharedTokenBucket(conninfo, "test:unreachable", rate=10.0)
        try:
            await bucket.acquire()
        finally:
            await bucket.aclose()

    with pytest.raises(RateLimiterUnavailable, match="cannot reach PostgreSQL") as info:
        asyncio.run(run())
    assert "pw-secret-123" not in str(info.value)
