"""What one run of a client did: requests, pages, rows, latency, retries, errors, breaker.

The client and the paginators write here as they go; `snapshot()` gives flat, JSON-ready
figures for logs and Dagster materialization metadata (no token or URL secrets in it).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from sync_pipeline.engine.http.errors import ErrorClass
from sync_pipeline.engine.http.histogram import LatencyHistogram


class HttpMetrics:
    """Counters and a latency histogram for one run; rates are per second since `started_at`."""

    def __init__(self) -> None:
        self.started_at = time.monotonic()
        self.requests = 0
        self.pages = 0
        self.rows = 0
        self.duplicates_dropped = 0
        self.not_found = 0
        self.latency = LatencyHistogram()
        self.attempt_errors: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.failed_requests: Counter[str] = Counter()
        self.breaker_openings = 0
        self.breaker_state = "closed"
        self.window_holds = 0

    def record_request_sent(self) -> None:
        self.requests += 1

    def record_response(self, latency_s: float) -> None:
        """One attempt got an HTTP response (any status) after `latency_s`."""
        self.latency.record(latency_s)

    def record_attempt_error(self, error: ErrorClass, retried: bool) -> None:
        """One attempt failed with `error`; `retried` says whether another attempt follows."""
        self.attempt_errors[error.value] += 1
        if retried:
            self.retries[error.value] += 1

    def record_failed_request(self, kind: str) -> None:
        """A request ended in an error raised to the caller (`kind`: the error's class name)."""
        self.failed_requests[kind] += 1

    def record_page(self, rows: int, duplicates: int = 0) -> None:
        self.pages += 1
        self.rows += rows
        self.duplicates_dropped += duplicates

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_at

    @property
    def throttled(self) -> int:
        """How many 429s the upstream sent."""
        return self.attempt_errors[ErrorClass.THROTTLED.value]

    def pages_per_s(self) -> float:
        return self.pages / max(self.elapsed_s, 1e-9)

    def rows_per_s(self) -> float:
        return self.rows / max(self.elapsed_s, 1e-9)

    def snapshot(self) -> dict[str, Any]:
        """Flat figures: counts, rates, latency (ms), retries and errors by class, breaker."""
        figures: dict[str, Any] = {
            "elapsed_s": round(self.elapsed_s, 3),
            "requests": self.requests,
            "pages": self.pages,
            "rows": self.rows,
            "pages_per_s": round(self.pages_per_s(), 2),
            "rows_per_s": round(self.rows_per_s(), 1),
            "duplicates_dropped": self.duplicates_dropped,
            "not_found": self.not_found,
            "http_429": self.throttled,
            "retries": sum(self.retries.values()),
            "breaker_openings": self.breaker_openings,
            "breaker_state": self.breaker_state,
            "window_holds": self.window_holds,
        }
        figures.update(
            {f"latency_{name}_ms": value for name, value in self.latency.summary_ms().items()}
        )
        figures.update({f"retries_{name}": count for name, count in sorted(self.retries.items())})
        figures.update(
            {f"errors_{name}": count for name, count in sorted(self.attempt_errors.items())}
        )
        figures.update(
            {f"failed_{name}": count for name, count in sorted(self.failed_requests.items())}
        )
        return figures
