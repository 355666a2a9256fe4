"""The one-second window cap: never more than its count in any window, whatever the bursts."""

import asyncio
import time

import pytest

from sync_pipeline.engine.http.window_cap import WindowCap


def test_no_window_holds_more_than_the_cap():
    async def run() -> tuple[list[float], int]:
        cap = WindowCap(5, window_s=0.2, margin_s=0.0)
        stamps: list[float] = []

        async def one() -> bool:
            held = await cap.wait_turn()
            stamps.append(time.monotonic())
            return held

        holds = await asyncio.gather(*(one() for _ in range(12)))
        return sorted(stamps), sum(holds)

    stamps, holds = asyncio.run(run())
    assert holds == 7
    assert max(sum(1 for s in stamps if start <= s < start + 0.2) for start in stamps) <= 5


@pytest.mark.parametrize(
    "rps, burst, expected", [(20.0, 1, 20), (19.99, 1, 19), (20.0, 5, 24), (0.25, 1, 1)]
)
def test_cap_for_an_api_limit(rps, burst, expected):
    assert WindowCap.for_limit(rps, burst).max_requests == expected


def test_unlimited_api_has_no_cap():
    assert WindowCap.for_limit(None, 1) is None
