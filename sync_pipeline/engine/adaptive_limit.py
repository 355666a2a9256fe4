"""`AdaptiveLimit`: how many units of work may run at once, lowered on throttling, regained on
success.

    videos = AdaptiveLimit(20)
    async with videos:                       # waits while `limit` holders are inside
        page = await fetch(...)
        videos.observe(client.metrics.throttled)   # a new 429 since last time lowers the limit

A 429 halves the limit (at most once per `cooldown_s`, so the burst of 429s that requests
already in flight get counts once); every success then wins one unit back, never above
`maximum`. The rate limiter and the upstream's `Retry-After` set the pace: this only keeps fewer
units queued behind a pause while the upstream pushes back. Winning back one unit per success
(not one per `limit` successes, as in TCP) matters when 429 storms come every few seconds: the
slower climb left 5 or 6 of 30 stores at work under the `hostile` profile, and a few requests
hanging for 30 s then held most of the slots.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Self


class AdaptiveLimit:
    """An asyncio semaphore whose size moves between `minimum` and `maximum` (one event loop)."""

    def __init__(self, maximum: int, minimum: int = 1, cooldown_s: float = 5.0) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {minimum} and {maximum}")
        self.maximum, self.minimum, self.cooldown_s = maximum, minimum, cooldown_s
        self.limit = maximum
        self.in_use = 0
        self.peak_in_use = 0
        self.lowest_limit = maximum
        self.decreases = 0
        self._seen_throttled = 0
        self._last_decrease = float("-inf")
        self._waiters: deque[asyncio.Future] = deque()

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    async def acquire(self) -> None:
        """Wait until fewer than `limit` holders are inside, then enter."""
        while self.in_use >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.in_use += 1
        self.peak_in_use = max(self.peak_in_use, self.in_use)

    def release(self) -> None:
        self.in_use -= 1
        self._wake()

    def observe(self, throttled_total: int) -> None:
        """Report a unit's progress with the client's running count of 429s: a count higher
        than the last one seen is throttling, an unchanged one a success."""
        if throttled_total > self._seen_throttled:
            self._seen_throttled = throttled_total
            self.throttled()
        else:
            self.succeeded()

    def throttled(self) -> None:
        """Halve the limit (not below `minimum`), unless it was lowered within `cooldown_s`."""
        now = time.monotonic()
        if now - self._last_decrease < self.cooldown_s:
            return
        self._last_decrease = now
        self.limit = max(self.minimum, self.limit // 2)
        self.lowest_limit = min(self.lowest_limit, self.limit)
        self.decreases += 1

    def succeeded(self) -> None:
        """Win one unit back (up to `maximum`)."""
        if self.limit < self.maximum:
            self.limit += 1
            self._wake()

    def _wake(self) -> None:
        free = self.limit - self.in_use
        for waiter in list(self._waiters):
            if free <= 0:
                break
            if not waiter.done():
                waiter.set_result(None)
                free -= 1
