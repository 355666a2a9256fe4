"""Bounded concurrency with backpressure: run work ahead of the consumer, but never far ahead."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

X = TypeVar("X")
Y = TypeVar("Y")


async def ordered_map(
    func: Callable[[X], Awaitable[Y]], items: Iterable[X], window: int
) -> AsyncIterator[tuple[X, Y]]:
    """Yield `(item, await func(item))` in the order of `items`, running up to `window` at once.

    At most `window` items are started and not yet yielded, so a slow consumer holds back the
    producer and memory stays bounded whatever the number of items; `items` is read lazily.
    The first failure is raised when its item's turn comes; then, or when the consumer stops
    early, the calls still running are cancelled and awaited.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    source = iter(items)
    pending: deque[tuple[X, asyncio.Task[Y]]] = deque()
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append((item, asyncio.ensure_future(func(item))))
            if not pending:
                return
            item, task = pending.popleft()
            yield item, await task
    finally:
        for _, task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
