"""ordered_map: input order, a bounded window of work ahead, failures and early stops."""

import asyncio
import random

import pytest

from sync_pipeline.engine.http.concurrency import ordered_map


def test_yields_in_input_order_with_at_most_window_started_ahead():
    async def run() -> tuple[list[int], int, int]:
        rng = random.Random(5)
        running = most_running = ahead = most_ahead = 0
        consumed = 0

        async def work(n: int) -> int:
            nonlocal running, most_running, ahead, most_ahead
            ahead += 1
            most_ahead = max(most_ahead, ahead)
            running += 1
            most_running = max(most_running, running)
            await asyncio.sleep(rng.uniform(0, 0.005))
            running -= 1
            return n * n

        out = []
        async for n, square in ordered_map(work, range(200), window=8):
            assert square == n * n
            out.append(n)
            ahead -= 1
            consumed += 1
            if consumed % 10 == 0:
                await asyncio.sleep(0.01)  # a slow consumer must hold the producer back
        return out, most_running, most_ahead

    out, most_running, most_ahead = asyncio.run(run())
    assert out == list(range(200))
    assert most_ahead <= 8 and most_running <= 8


def test_items_are_read_lazily():
    pulled = []

    def items():
        for n in range(1_000_000):
            pulled.append(n)
            yield n

    async def run() -> None:
        async def work(n: int) -> int:
            return n

        async for n, _ in ordered_map(work, items(), window=4):
            if n == 2:
                break

    asyncio.run(run())
    assert len(pulled) <= 8


def test_first_failure_is_raised_and_the_rest_cancelled():
    cancelled = []

    async def run() -> None:
        async def work(n: int) -> int:
            if n == 3:
                raise ValueError("page 3 broke")
            try:
                await asyncio.sleep(0.2 if n > 3 else 0)
            except asyncio.CancelledError:
                cancelled.append(n)
                raise
            return n

        async for _ in ordered_map(work, range(10), window=5):
            pass

    with pytest.raises(ValueError, match="page 3 broke"):
        asyncio.run(run())
    assert cancelled and all(n > 3 for n in cancelled)


def test_window_must_be_positive():
    async def run() -> None:
        async for _ in ordered_map(asyncio.sleep, [0], window=0):
            pass

    with pytest.raises(ValueError, match="window"):
        asyncio.run(run())
