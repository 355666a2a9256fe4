"""Retry decisions: which failures are retried, how long to wait, and when to give up.

The client's attempt loop asks `RetryPolicy` for each failure. Waits are exponential backoff
with full jitter (a uniform draw between 0 and `min(cap, base * 2**(n-1))`, which spreads
clients apart after a shared outage), except for 429, which waits exactly what `Retry-After`
says (seconds or an HTTP date).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from sync_pipeline.engine.http.errors import ErrorClass

THROTTLE_FALLBACK_S = 1.0


def error_class_for_status(status: int) -> ErrorClass | None:
    """The retryable class of an HTTP status, or None when the status is not retried."""
    if status == 429:
        return ErrorClass.THROTTLED
    if 500 <= status <= 599:
        return ErrorClass.SERVER_ERROR
    return None


def parse_retry_after(value: str | None, now_epoch_s: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header, or None when absent or unreadable.

    Accepts whole (or fractional) seconds and HTTP dates (`Wed, 21 Oct 2026 07:28:00 GMT`);
    a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        now = time.time() if now_epoch_s is None else now_epoch_s
        return max(0.0, when.timestamp() - now)
    return None if math.isnan(seconds) else max(0.0, seconds)


@dataclass
class RetryPolicy:
    """How many attempts a request gets, how long in all, and how long to wait between them."""

    max_attempts: int
    total_budget_s: float
    backoff_base_s: float
    backoff_cap_s: float
    rng: random.Random = field(default_factory=random.Random)

    def backoff_s(self, failures: int) -> float:
        """Full-jitter wait before the attempt that follows the `failures`-th failure (1-based)."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** max(failures - 1, 0))
        return self.rng.uniform(0.0, ceiling)

    def wait_s(self, error: ErrorClass, failures: int, retry_after_s: float | None) -> float:
        """The wait before retrying after an `error`; 429 honours `Retry-After` when given."""
        if error is ErrorClass.THROTTLED:
            return (
                retry_after_s
                if retry_after_s is not None
                else max(THROTTLE_FALLBACK_S, self.backoff_s(failures))
            )
        return self.backoff_s(failures)

    def give_up_reason(
        self, error: ErrorClass, counted_failures: int, elapsed_s: float, wait_s: float
    ) -> str | None:
        """Why the request must stop now, or None when one more attempt is allowed.

        429s are not counted as failures (the server asked us to wait, it did not fail), but
        their waits count against the time budget like every other wait.
        """
        if error is not ErrorClass.THROTTLED and counted_failures >= self.max_attempts:
            return f"{self.max_attempts} attempt(s) allowed"
        if elapsed_s + wait_s > self.total_budget_s:
            return f"waiting {wait_s:.1f} s more would pass the {self.total_budget_s:g} s budget"
        return None
