"""Token buckets per (token, limit group): the reference upstream's exact rate limits.

A request takes one token or is refused at once (429, never queued); a refused request takes
nothing, so a client that backs off as told is served at exactly `rps` on average.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from sync_pipeline.upstream.profiles import Limit


@dataclass
class TokenBucket:
    rps: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one will be there."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rps)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rps


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def wait_needed(
        self, token_label: str, group: str, limit: Limit, now: float | None = None
    ) -> float:
        """Take a token for (token, group) under `limit`: 0.0 if admitted, else seconds to wait."""
        if limit.rps is None:
            return 0.0
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get((token_label, group))
        if bucket is None or bucket.rps != limit.rps or bucket.burst != limit.burst:
            bucket = TokenBucket(limit.rps, limit.burst, limit.burst, now)
            self._buckets[(token_label, group)] = bucket
        return bucket.take(now)

    def reset(self) -> None:
        self._buckets.clear()


def retry_after_seconds(wait_s: float) -> str:
    """Whole seconds, rounded up, at least 1: waiting that long always finds a token."""
    return str(max(1, math.ceil(wait_s)))
