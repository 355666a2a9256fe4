import asyncio

import pytest

from sync_pipeline.engine.adaptive_limit import AdaptiveLimit


def test_throttling_halves_once_per_cooldown_and_each_success_wins_one_back():
    limit = AdaptiveLimit(8, cooldown_s=60)
    limit.observe(1)
    limit.observe(2)
    assert (limit.limit, limit.decreases) == (4, 1)
    limit.observe(2)
    assert limit.limit == 5
    for _ in range(100):
        limit.observe(2)
    assert limit.limit == 8 and limit.lowest_limit == 4
    limit.observe(3)
    assert limit.limit == 8, "a second 429 within the cooldown does not lower it again"


def test_never_below_minimum():
    limit = AdaptiveLimit(3, minimum=2, cooldown_s=0)
    for count in range(1, 5):
        limit.observe(count)
    assert limit.limit == 2


def test_holders_never_exceed_the_current_limit_and_waiters_wake_when_it_grows():
    async def scenario() -> tuple[int, int, int]:
        limit = AdaptiveLimit(4, cooldown_s=0)
        limit.throttled()
        limit.throttled()
        inside = peak = over = 0

        async def unit() -> None:
            nonlocal inside, peak, over
            async with limit:
                inside += 1
                peak = max(peak, inside)
                over += inside > limit.limit
                await asyncio.sleep(0.01)
                inside -= 1
                limit.succeeded()

        await asyncio.wait_for(asyncio.gather(*(unit() for _ in range(12))), timeout=5)
        return peak, over, limit.limit

    peak, over, final = asyncio.run(scenario())
    assert over == 0 and 1 < peak <= 4 and final > 1


def test_rejects_inconsistent_bounds():
    with pytest.raises(ValueError):
        AdaptiveLimit(2, minimum=3)
