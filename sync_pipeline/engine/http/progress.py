"""Progress of a run: a log line every 5 s with done/total and ETA, and a bar on a terminal.

    async with ProgressReporter(metrics, "cars", total=None) as progress:
        ...                       # the client and paginators update `metrics`
        progress.set_total(n)     # as soon as the total is known

The log line goes through `logging` (so Dagster captures it); the bar is drawn on stderr only
when stderr is a terminal (CLI runs), redrawn in place a few times a second, and needs no
extra dependency. A command that runs Dagster steps in its own process wraps them in
`progress_terminal()`: Dagster points a step's stderr at its compute log, so the bar goes to
a copy of the terminal taken before the run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Self, TextIO

from sync_pipeline.engine.http.metrics import HttpMetrics

BAR_WIDTH = 30
BAR_REFRESH_S = 0.2
_terminal: TextIO | None = None


@contextmanager
def progress_terminal(stream: TextIO | None = None) -> Iterator[None]:
    """Draw the bars of progress reporters made while the block runs on `stream` (default: this
    process's stderr), when it is a terminal.

    Dagster captures a step's output by pointing file descriptors 1 and 2 at its compute log,
    so a step run in this process (`execute_in_process`, as `sync-pipeline sync` does) finds no
    terminal on stderr; a duplicate of the terminal's descriptor, taken before, still reaches it.
    """
    global _terminal
    stream = stream or sys.stderr
    if not stream.isatty():
        yield
        return
    terminal = os.fdopen(os.dup(stream.fileno()), "w", buffering=1)
    previous, _terminal = _terminal, terminal
    try:
        yield
    finally:
        _terminal = previous
        terminal.close()


def format_duration(seconds: float) -> str:
    """`1h02m`, `3m05s` or `42s`."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    )


class ProgressReporter:
    """Reports `done()` (default: rows handed to the caller) against `total` while it runs."""

    def __init__(
        self,
        metrics: HttpMetrics,
        label: str,
        *,
        total: int | None = None,
        unit: str = "rows",
        done: Callable[[], int] | None = None,
        logger: logging.Logger | None = None,
        log_every_s: float = 5.0,
        bar: bool | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.metrics = metrics
        self.label = label
        self.total = total
        self.unit = unit
        self._done = done or (lambda: metrics.rows)
        self.logger = logger or logging.getLogger(__name__)
        self.log_every_s = log_every_s
        self.stream = stream or _terminal or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self._task: asyncio.Task | None = None

    def set_total(self, total: int) -> None:
        self.total = total

    def eta_s(self) -> float | None:
        """Seconds left at the average pace so far, or None before there is a pace or a total."""
        done = self._done()
        if self.total is None or done <= 0:
            return None
        return max(self.total - done, 0) * self.metrics.elapsed_s / done

    def line(self) -> str:
        """The progress line: done/total, rates, ETA, latency, retries, 429s, breaker."""
        done, m = self._done(), self.metrics
        of_total = (
            f"/{self.total:,} {self.unit} ({100.0 * done / self.total:.1f}%)"
            if self.total
            else f" {self.unit}"
        )
        eta = self.eta_s()
        return (
            f"{self.label}: {done:,}{of_total}, {m.pages_per_s():.1f} pages/s, "
            f"{m.rows_per_s():,.0f} rows/s, "
            f"ETA {format_duration(eta) if eta is not None else '?'}, "
            f"p95 {m.latency.percentile(95) * 1000:.0f} ms, "
            f"retries {sum(m.retries.values())}, 429s {m.throttled}, breaker {m.breaker_state}"
        )

    def bar_text(self) -> str:
        done = self._done()
        fraction = min(done / self.total, 1.0) if self.total else 0.0
        filled = int(fraction * BAR_WIDTH)
        eta = self.eta_s()
        total = f"{self.total:,}" if self.total else "?"
        return (
            f"\r{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {100 * fraction:5.1f}% "
            f"{done:,}/{total} {self.unit} {self.metrics.rows_per_s():,.0f}/s "
            f"ETA {format_duration(eta) if eta is not None else '?'}  "
        )

    async def _run(self) -> None:
        next_log = time.monotonic() + self.log_every_s
        while True:
            until_log = max(next_log - time.monotonic(), 0.0)
            await asyncio.sleep(min(BAR_REFRESH_S, until_log) if self.bar else until_log)
            if self.bar:
                self.stream.write(self.bar_text())
                self.stream.flush()
            if time.monotonic() >= next_log:
                if self.bar:
                    self.stream.write("\r\x1b[2K")
                self.logger.info("%s", self.line())
                next_log += self.log_every_s
                if next_log <= time.monotonic():
                    next_log = time.monotonic() + self.log_every_s

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name=f"progress:{self.label}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.bar:
            self.stream.write(self.bar_text() + "\n")
            self.stream.flush()
        self.logger.info(
            "%s (finished in %s)", self.line(), format_duration(self.metrics.elapsed_s)
        )
