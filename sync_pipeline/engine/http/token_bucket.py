"""The in-process rate limiter: a token bucket kept as a schedule of send slots (GCRA).

A token bucket of rate r and capacity b is exactly the "generic cell rate algorithm": keep the
time of the next free send slot; a request takes that slot (or, when the bucket has been idle,
a slot up to `b - 1` intervals in the past, which is the burst), and the next slot moves one
interval `1/r` later. Slots are absolute times, so a late wake-up never shifts later requests
and the long-run rate is exact: n requests span exactly `(n - b) / r` seconds.

Why not aiolimiter: its rate is fixed when built (a 429 cannot lower it or pause it), its
capacity equals its rate unless the period is bent to fit, and the PostgreSQL-shared bucket
(`shared_bucket.py`) needs this same slot arithmetic in SQL; one algorithm in both places
means one behaviour to reason about.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Protocol

MAX_SLOWDOWN = 10.0


class RateLimiter(Protocol):
    """What the client needs from a limiter, in-process or shared."""

    async def acquire(self) -> None:
        """Return when the caller may send one request."""

    async def throttle(self, pause_s: float) -> None:
        """The upstream answered 429: send nothing for `pause_s`, then go slower for a while."""

    def current_rps(self) -> float | None:
        """The rate now in force (lowered after 429s), or None when unlimited."""

    async def aclose(self) -> None:
        """Release what the limiter holds (database connections)."""


class SlotSchedule:
    """GCRA state: the next free slot, the burst tolerance and a temporary slowdown.

    Pure arithmetic on times passed in, so its guarantees can be checked without a clock.
    `rate=None` schedules every request at once, but still honours `throttle` pauses.
    """

    def __init__(
        self, rate: float | None, burst: int = 1, rate_factor: float = 0.8, slow_for_s: float = 60.0
    ) -> None:
        self.base_interval_s = 0.0 if rate is None else 1.0 / rate
        self.burst = burst
        self.rate_factor = rate_factor
        self.slow_for_s = slow_for_s
        self.next_slot = -math.inf
        self.paused_until = -math.inf
        self.slowdown = 1.0
        self.slow_until = -math.inf

    def interval_s(self, now: float) -> float:
        """Seconds between slots at time `now` (longer while slowed down after a 429)."""
        return self.base_interval_s * (self.slowdown if now < self.slow_until else 1.0)

    def claim(self, now: float, count: int = 1) -> tuple[float, float]:
        """Take `count` consecutive slots; returns (time of the first, interval between them)."""
        interval = self.interval_s(now)
        first = max(self.next_slot, now - (self.burst - 1) * interval)
        self.next_slot = first + count * interval
        return first, interval

    def throttle(self, now: float, pause_s: float) -> None:
        """No slot before `now + pause_s`; the rate drops by `rate_factor` until `slow_for_s` after.

        Only a 429 that comes after the last pause ended lowers the rate again (compounding, at
        most `MAX_SLOWDOWN` times): the 429s of requests already in flight count as one.
        """
        if now >= self.paused_until:
            current = self.slowdown if now < self.slow_until else 1.0
            self.slowdown = min(MAX_SLOWDOWN, current / self.rate_factor)
        self.paused_until = max(self.paused_until, now + pause_s)
        self.next_slot = max(self.next_slot, self.paused_until)
        self.slow_until = max(self.slow_until, now + pause_s + self.slow_for_s)

    def current_rps(self, now: float) -> float | None:
        interval = self.interval_s(now)
        return None if interval == 0 else 1.0 / interval


class TokenBucket:
    """An asyncio rate limiter for one process: `await bucket.acquire()` before each request.

    Holds `rate` requests per second over any long window (exactly, given demand) and lets
    at most `burst` go at once after an idle spell. Waiters are served in the order they ask;
    one that was already waiting when a `throttle` pause began waits for the pause too.
    """

    def __init__(
        self, rate: float | None, burst: int = 1, rate_factor: float = 0.8, slow_for_s: float = 60.0
    ) -> None:
        self._schedule = SlotSchedule(rate, burst, rate_factor, slow_for_s)

    async def acquire(self) -> None:
        while True:
            now = time.monotonic()
            slot, _ = self._schedule.claim(now)
            if slot > now:
                await asyncio.sleep(slot - now)
            if time.monotonic() >= self._schedule.paused_until:
                return

    async def throttle(self, pause_s: float) -> None:
        self._schedule.throttle(time.monotonic(), pause_s)

    def current_rps(self) -> float | None:
        return self._schedule.current_rps(time.monotonic())

    async def aclose(self) -> None:
        return None
