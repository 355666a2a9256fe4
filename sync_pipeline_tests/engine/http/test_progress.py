"""Progress: the periodic log line with done/total and ETA, and the terminal bar."""

import asyncio
import io
import logging

from sync_pipeline.engine.http.errors import ErrorClass
from sync_pipeline.engine.http.metrics import HttpMetrics
from sync_pipeline.engine.http.progress import ProgressReporter, format_duration


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_format_duration():
    assert [format_duration(s) for s in (0, 42, 185, 3725)] == ["0s", "42s", "3m05s", "1h02m"]


def test_line_has_done_total_rates_eta_latency_retries_and_breaker():
    metrics = HttpMetrics()
    metrics.started_at -= 10.0
    for _ in range(4):
        metrics.record_page(250)
        metrics.record_response(0.040)
    metrics.record_attempt_error(ErrorClass.THROTTLED, retried=True)
    reporter = ProgressReporter(metrics, "cars", total=2000, bar=False)
    line = reporter.line()
    assert line.startswith("cars: 1,000/2,000 rows (50.0%)")
    for fragment in (
        "pages/s",
        "rows/s",
        "ETA 10s",
        "p95 40 ms",
        "retries 1",
        "429s 1",
        "breaker closed",
    ):
        assert fragment in line


def test_logs_every_interval_and_draws_a_bar_on_a_terminal(caplog):
    caplog.set_level(logging.INFO)
    terminal = Terminal()

    async def run() -> None:
        metrics = HttpMetrics()
        async with ProgressReporter(
            metrics, "users", total=100, log_every_s=0.1, stream=terminal
        ) as progress:
            assert progress.bar
            for _ in range(5):
                metrics.record_page(10)
                await asyncio.sleep(0.06)

    asyncio.run(run())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("users:")]
    assert len(lines) >= 3 and "finished in" in lines[-1] and "50/100 rows" in lines[-1]
    drawn = terminal.getvalue()
    assert "users [" in drawn and "50.0%" in drawn and drawn.endswith("\n")


def test_no_bar_when_not_a_terminal():
    stream = io.StringIO()

    async def run() -> None:
        async with ProgressReporter(HttpMetrics(), "stores", stream=stream, log_every_s=60):
            await asyncio.sleep(0.01)

    asyncio.run(run())
    assert stream.getvalue() == ""
