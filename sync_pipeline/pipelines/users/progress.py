"""Progress of a detail fetch: done/total, details per hour and the ETA, logged and drawn.

The engine's `ProgressReporter` with the figures a slow endpoint needs: at 1 request per 4 s a
rate per second reads 0, so the pace is per hour, and before the first details arrive the ETA
is worked out from the limit in force instead of being unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from sync_pipeline.engine.http import ApiClient
from sync_pipeline.engine.http.progress import BAR_WIDTH, ProgressReporter, format_duration

PACE_AFTER = 5


class DetailProgress(ProgressReporter):
    """Reports `done()` details of `total` for `client`'s run (bar on a terminal only)."""

    def __init__(
        self,
        client: ApiClient,
        total: int,
        done: Callable[[], int],
        label: str = "users details",
        stream: TextIO | None = None,
    ) -> None:
        super().__init__(
            client.metrics,
            label,
            total=total,
            unit="details",
            done=done,
            logger=client.log,
            stream=stream,
        )
        self.client = client

    def per_hour(self) -> float | None:
        """The pace so far, or the limit in force before `PACE_AFTER` details have arrived."""
        done = self._done()
        if done >= PACE_AFTER:
            return 3600.0 * done / max(self.metrics.elapsed_s, 1e-9)
        rps = self.client.limiter.current_rps()
        return 3600.0 * rps if rps else None

    def eta_s(self) -> float | None:
        per_hour = self.per_hour()
        if self.total is None or not per_hour:
            return None
        return 3600.0 * max(self.total - self._done(), 0) / per_hour

    def line(self) -> str:
        done, total, per_hour, eta = self._done(), self.total or 0, self.per_hour(), self.eta_s()
        share = f" ({100.0 * done / total:.1f}%)" if total else ""
        p95_ms = self.metrics.latency.percentile(95) * 1000
        return (
            f"{self.label}: {done:,}/{total:,}{share}, {per_hour or 0:,.0f}/h, "
            f"ETA {format_duration(eta) if eta is not None else '?'}, "
            f"p95 {p95_ms:.0f} ms, retries {sum(self.metrics.retries.values())}, "
            f"429s {self.metrics.throttled}"
        )

    def bar_text(self) -> str:
        done, total = self._done(), self.total or 0
        fraction = min(done / total, 1.0) if total else 1.0
        filled = int(fraction * BAR_WIDTH)
        eta = self.eta_s()
        return (
            f"\r{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {100 * fraction:5.1f}% "
            f"{done:,}/{total:,} {self.per_hour() or 0:,.0f}/h "
            f"ETA {format_duration(eta) if eta is not None else '?'}  "
        )
