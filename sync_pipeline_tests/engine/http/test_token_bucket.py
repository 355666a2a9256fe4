"""The in-process token bucket: exact spacing, bursts, 429 pauses and slowdowns."""

import asyncio
import itertools
import time

import pytest

from sync_pipeline.engine.http.token_bucket import MAX_SLOWDOWN, SlotSchedule, TokenBucket


def claim_all(schedule: SlotSchedule, arrivals: list[float]) -> list[float]:
    return [schedule.claim(now)[0] for now in arrivals]


def test_a_minute_of_demand_gets_exactly_the_configured_rate():
    schedule = SlotSchedule(rate=20.0, burst=1)
    slots = claim_all(schedule, [0.0] * 1200)
    assert slots[0] == 0.0
    assert slots[-1] == pytest.approx(1199 / 20.0)
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.05) and max(gaps) == pytest.approx(0.05)


def test_no_one_second_window_holds_more_than_rate_plus_burst_minus_one():
    rate, burst = 19.8, 3
    schedule = SlotSchedule(rate=rate, burst=burst)
    arrivals = [i * 0.013 for i in range(400)] + [10.0 + i * 0.001 for i in range(400)]
    slots = sorted(claim_all(schedule, arrivals))
    most = max(sum(1 for s in slots if start <= s < start + 1.0) for start in slots)
    assert most <= int(rate) + burst - 1


def test_burst_is_available_after_idle_and_only_then():
    schedule = SlotSchedule(rate=10.0, burst=4)
    assert claim_all(schedule, [100.0] * 6) == pytest.approx(
        [99.7, 99.8, 99.9, 100.0, 100.1, 100.2]
    )
    # a request arriving right after the burst waits its turn: no second burst
    assert schedule.claim(100.0)[0] == pytest.approx(100.3)


def test_throttle_pauses_then_slows_down_for_a_while():
    schedule = SlotSchedule(rate=10.0, burst=1, rate_factor=0.5, slow_for_s=30.0)
    schedule.throttle(now=50.0, pause_s=2.0)
    first, interval = schedule.claim(50.0)
    assert first == pytest.approx(52.0)
    assert interval == pytest.approx(0.2)
    assert schedule.current_rps(60.0) == pytest.approx(5.0)
    assert schedule.current_rps(82.5) == pytest.approx(10.0)


def test_repeated_throttles_compound_up_to_a_floor():
    schedule = SlotSchedule(rate=10.0, rate_factor=0.5)
    for i in range(10):
        schedule.throttle(now=float(i), pause_s=0.0)
    assert schedule.current_rps(10.0) == pytest.approx(10.0 / MAX_SLOWDOWN)


def test_429s_of_requests_already_in_flight_lower_the_rate_once():
    schedule = SlotSchedule(rate=10.0, rate_factor=0.5, slow_for_s=30.0)
    for offset in (0.0, 0.01, 0.02, 0.5):
        schedule.throttle(now=100.0 + offset, pause_s=1.0)
    assert schedule.current_rps(101.5) == pytest.approx(5.0)
    schedule.throttle(now=101.5, pause_s=1.0)
    assert schedule.current_rps(103.0) == pytest.approx(2.5)
    assert schedule.current_rps(132.6) == pytest.approx(10.0)


def test_unlimited_schedule_still_honours_pauses():
    schedule = SlotSchedule(rate=None)
    assert claim_all(schedule, [5.0, 5.0, 5.0]) == [5.0, 5.0, 5.0]
    schedule.throttle(now=5.0, pause_s=1.5)
    assert schedule.claim(5.0)[0] == pytest.approx(6.5)
    assert schedule.current_rps(5.0) is None


def test_bucket_paces_waiters_in_real_time():
    async def run() -> list[float]:
        bucket = TokenBucket(rate=50.0)
        stamps: list[float] = []

        async def one() -> None:
            await bucket.acquire()
            stamps.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(11)))
        return sorted(stamps)

    stamps = asyncio.run(run())
    # behaviour, not speed: 11 requests at 50/s cannot all go in less than 10 intervals
    assert stamps[-1] - stamps[0] >= 10 * 0.02 - 0.002


def test_waiters_already_sleeping_respect_a_new_pause():
    async def run() -> float:
        bucket = TokenBucket(rate=10.0)
        await bucket.acquire()
        waiter = asyncio.create_task(bucket.acquire())
        await asyncio.sleep(0.01)
        started = time.monotonic()
        await bucket.throttle(0.5)
        await waiter
        return time.monotonic() - started

    assert asyncio.run(run()) >= 0.49
