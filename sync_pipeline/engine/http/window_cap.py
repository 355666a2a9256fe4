"""A hard cap on requests in any one-second window, the way an upstream counts them.

The token bucket spaces requests evenly, but a request whose wake-up comes late (the event loop
was parsing a large page, or the machine is busy) lands closer to the ones after it, and an
upstream counting arrivals in a sliding window would see one too many. The cap remembers when
the last `max_requests` requests went out and holds the next one until the oldest of them is
more than a window old, so this process alone can never exceed `max_requests` per window,
whatever the scheduling. It costs nothing while the bucket's spacing is kept.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

WINDOW_S = 1.0
MARGIN_S = 0.002


class WindowCap:
    """At most `max_requests` sends in any `window_s` (plus a small margin for the wire)."""

    def __init__(
        self, max_requests: int, window_s: float = WINDOW_S, margin_s: float = MARGIN_S
    ) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, got {max_requests}")
        self.max_requests = max_requests
        self.window_s = window_s + margin_s
        self._sent: deque[float] = deque(maxlen=max_requests)

    @classmethod
    def for_limit(cls, rps: float | None, burst: int) -> WindowCap | None:
        """The cap an API limit of `rps` with bucket size `burst` allows (None: unlimited)."""
        if rps is None:
            return None
        return cls(max(1, math.floor(rps + 1e-9) + burst - 1))

    async def wait_turn(self) -> bool:
        """Return when one more request may go (it counts as sent then); True if it was held
        back."""
        held = False
        while True:
            now = time.monotonic()
            if len(self._sent) < self.max_requests or now - self._sent[0] >= self.window_s:
                self._sent.append(now)
                return held
            held = True
            await asyncio.sleep(self._sent[0] + self.window_s - now)
