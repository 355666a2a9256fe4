"""`sync-pipeline workflows worker|replay`: the long-lived worker process and dead-letter replay.

The worker applies pending migrations first (advisory-locked: any number may start at once), so
a database that cannot be reached stops it at once with exit code 2. Once running, a lost
database connection (a restart, a failover, a terminated backend) does not end the process: the
worker starts again on new connections after a backoff, while the jobs it had leased come back
to the queue when their leases expire (nothing is lost; a receiver deduplicates by
Idempotency-Key what was delivered twice).
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import fields

import psycopg

from sync_pipeline.db.connect import app_database_url, connect
from sync_pipeline.db.migrations import migrate
from sync_pipeline.errors import ConfigError
from sync_pipeline.workflows.metrics import WorkerMetrics
from sync_pipeline.workflows.queue import replay_dead
from sync_pipeline.workflows.worker import WorkerSettings, WorkerStats, WorkflowWorker

RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 30.0


def run_worker(
    settings: WorkerSettings, metrics_port: int | None = None, metrics_host: str = "127.0.0.1"
) -> int:
    """Run one worker until SIGTERM or SIGINT (then stop gracefully); exit code 0."""
    url = app_database_url()
    migrate(url)
    conninfo = url.conninfo()
    metrics = WorkerMetrics(conninfo) if metrics_port is not None else None
    try:
        if metrics is not None:
            port = _serve_metrics(metrics, metrics_port, metrics_host)
            print(f"metrics on http://{metrics_host}:{port}/metrics", flush=True)
        stats = asyncio.run(_run_until_signalled(conninfo, settings, metrics))
    finally:
        if metrics is not None:
            metrics.close()
    print(
        f"worker stopped: {stats.delivered} delivered, {stats.retried} retried, {stats.dead} dead, "
        f"{stats.released} released, {stats.changes_dispatched} changes dispatched",
        flush=True,
    )
    return 0


def _serve_metrics(metrics: WorkerMetrics, port: int, host: str) -> int:
    try:
        return metrics.serve(port, host)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None


async def _run_until_signalled(
    conninfo: str, settings: WorkerSettings, metrics: WorkerMetrics | None
) -> WorkerStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    total = WorkerStats()
    delay = RECONNECT_FIRST_S
    while not stop.is_set():
        worker = WorkflowWorker(conninfo, settings, metrics=metrics)
        print(f"worker {worker.owner} started (concurrency {settings.concurrency})", flush=True)
        started = time.monotonic()
        try:
            await worker.run(stop)
        except psycopg.OperationalError as exc:
            if time.monotonic() - started > RECONNECT_MAX_S:
                delay = RECONNECT_FIRST_S
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"database connection lost ({reason}); restarting in {delay:g} s", flush=True)
            await _sleep_unless(stop, delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
        finally:
            _add_stats(total, worker.stats)
    return total


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


def _add_stats(total: WorkerStats, more: WorkerStats) -> None:
    for counter in fields(WorkerStats):
        setattr(total, counter.name, getattr(total, counter.name) + getattr(more, counter.name))


def run_replay(trigger_id: int | None, ids: list[int] | None) -> int:
    """Requeue dead letters (all, one trigger's, or the given ids); prints how many."""
    url = app_database_url()
    migrate(url)
    with connect(url, autocommit=True) as conn:
        count = replay_dead(conn, trigger_id, ids or None)
    print(f"requeued {count} dead letter(s)")
    return 0
