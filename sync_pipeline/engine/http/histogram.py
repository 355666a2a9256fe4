"""A latency histogram of fixed memory with percentiles good to about 1%.

Latencies fall into logarithmic buckets (each 2% wider than the one before), so a million
requests take no more memory than a hundred, and any percentile is read back within 1% of the
true value. Min, max, count and sum are exact.
"""

from __future__ import annotations

import math

GROWTH = 1.02
SMALLEST_S = 1e-5


class LatencyHistogram:
    """Request latencies in seconds; `percentile(95)` and friends read them back."""

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self.count = 0
        self.total_s = 0.0
        self.min_s = math.inf
        self.max_s = 0.0

    def record(self, seconds: float) -> None:
        seconds = max(seconds, SMALLEST_S)
        index = int(math.log(seconds / SMALLEST_S, GROWTH))
        self._buckets[index] = self._buckets.get(index, 0) + 1
        self.count += 1
        self.total_s += seconds
        self.min_s = min(self.min_s, seconds)
        self.max_s = max(self.max_s, seconds)

    @property
    def mean_s(self) -> float:
        return self.total_s / self.count if self.count else 0.0

    def percentile(self, p: float) -> float:
        """The latency below which `p` percent of the recorded ones fall (0 when empty).

        The answer is the middle of the bucket holding that rank, clamped to the exact min/max.
        """
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * p / 100.0))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                middle = SMALLEST_S * GROWTH ** (index + 0.5)
                return min(max(middle, self.min_s), self.max_s)
        return self.max_s

    def summary_ms(self) -> dict[str, float]:
        """avg, p50, p95, p99 and max in milliseconds, rounded to 0.01 ms."""
        values = {
            "avg": self.mean_s,
            "p50": self.percentile(50),
            "p95": self.percentile(95),
            "p99": self.percentile(99),
            "max": self.max_s,
        }
        return {name: round(seconds * 1000.0, 2) for name, seconds in values.items()}
