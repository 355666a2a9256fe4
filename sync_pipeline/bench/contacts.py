"""`sync-pipeline bench contacts`: what a field-change trigger costs, and how fast changes reach
the queue and webhooks leave it.

On a scratch database (created, migrated, dropped) with `ROWS` contacts in one workspace whose
only trigger watches `stage`, posting to a local webhook receiver:

1. Trigger overhead: the same UPDATE of every row (one statement, committed) run alternately
   with the row trigger firing and with it switched off for the session
   (`session_replication_role = replica`: the very same table, rows and indexes, without the
   trigger), `ROUNDS` times each; the overhead per UPDATEd row is the difference of the two
   medians divided by the rows. Once changing `email` (a field no trigger watches: the function
   runs, finds nothing watched), once changing `stage` (one change row per UPDATE).
2. Changes queued per second: `ROWS` stage changes committed in transactions of `CHUNK` rows
   while a dispatcher drains the change log; from the first UPDATE to the last execution queued.
3. Deliveries per second: 4 `sync-pipeline workflows worker` processes deliver the queued
   executions; deliveries arriving after the last worker said it started, divided by the time
   from then to the last arrival (worker start-up excluded, nothing else).
4. Delivery latency: stage changes committed at half the measured delivery rate for a few
   seconds while the workers run; latency is the first arrival at the receiver minus the
   change's `changed_at` (the UPDATE's transaction time).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime
from typing import Self

import psycopg

from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.bench.webhook_receiver import WebhookReceiver
from sync_pipeline.db.scratch import scratch_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.errors import ConfigError
from sync_pipeline.workflows.dispatcher import WAKE_DISPATCHER, dispatch_pending

WORKSPACE = "ws_bench"
ROWS, QUICK_ROWS = 20_000, 4_000
ROUNDS = 5
CHUNK = 500
WORKERS = 4
WORKER_CONCURRENCY = 32
LATENCY_SECONDS, QUICK_LATENCY_SECONDS = 10.0, 4.0
TICK_S = 0.05

_SEED = """
INSERT INTO contacts (id, workspace_id, name, email, stage, owner_id, custom_fields, updated_at,
                      fingerprint, last_run_id)
SELECT gen_random_uuid(), %(ws)s, 'Contact ' || n, 'c' || n || '@example.com', 'sql', n %% 40,
       jsonb_build_object('lead_score', n %% 100), now(), '\\x00000000000000000000000000000000',
       'bench'
FROM generate_series(1, %(rows)s) AS n
"""
_UNWATCHED = (
    "UPDATE contacts SET email = 'r' || %(round)s || '.' || id || '@example.com' "
    "WHERE workspace_id = %(ws)s"
)
_WATCHED = (
    "UPDATE contacts SET stage = CASE stage WHEN 'sql' THEN 'opportunity' ELSE 'sql' END "
    "WHERE workspace_id = %(ws)s"
)


def run(options: BenchOptions) -> BenchReport:
    report = BenchReport("contacts")
    rows = QUICK_ROWS if options.quick else ROWS
    seconds = QUICK_LATENCY_SECONDS if options.quick else LATENCY_SECONDS
    report.environment.update(
        {
            "rows": rows,
            "rounds": ROUNDS,
            "workers": WORKERS,
            "worker_concurrency": WORKER_CONCURRENCY,
        }
    )
    with scratch_database("sync_bench_contacts") as url, WebhookReceiver() as receiver:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            _require_superuser(conn)
            _seed(conn, rows, receiver.url)
            measure_trigger_overhead(report, conn, rows)
        queued = changes_queued_per_second(url.conninfo(), rows)
        report.at_least("changes queued per second", queued, "changes/s", 5000)
        with WorkerProcesses(url, WORKERS) as workers:
            rate = deliveries_per_second(url.conninfo(), receiver, rows, workers)
            report.at_least(f"deliveries per second, {WORKERS} workers", rate, "deliveries/s", 1000)
            latencies = latency_at_rate(url.conninfo(), receiver, rate / 2, seconds, workers)
        report.info("delivery rate offered for the latency figures", rate / 2, "changes/s")
        report.info("delivery latency p50 at half that rate", _quantile(latencies, 0.5), "s")
        report.at_most(
            "delivery latency p99 at half that rate", _quantile(latencies, 0.99), "s", 1.0
        )
    return report


def _require_superuser(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        return
    raise ConfigError(
        "bench contacts switches the trigger off per session "
        "(session_replication_role), which needs a superuser; use the embedded server"
    )


def _seed(conn: psycopg.Connection, rows: int, webhook_url: str) -> None:
    conn.execute(_SEED, {"ws": WORKSPACE, "rows": rows})
    conn.execute(
        "INSERT INTO triggers (workspace_id, field, webhook_url, max_attempts) "
        "VALUES (%s, 'stage', %s, 3)",
        (WORKSPACE, webhook_url),
    )
    conn.execute("VACUUM ANALYZE contacts")


def measure_trigger_overhead(report: BenchReport, conn: psycopg.Connection, rows: int) -> None:
    """Both trigger figures, and the untriggered UPDATE's own cost for context."""
    for name, statement, target in (
        ("no watched field", _UNWATCHED, 0.05),
        ("watched field", _WATCHED, 0.5),
    ):
        plain, triggered = update_timings(conn, statement, rows)
        overhead_ms = (statistics.median(triggered) - statistics.median(plain)) / rows * 1000
        report.info(
            f"UPDATE per row without trigger, {name}", statistics.median(plain) / rows * 1000, "ms"
        )
        report.at_most(f"trigger overhead, {name}", overhead_ms, "ms", target)
    logged = conn.execute("SELECT count(*) FROM contact_field_changes").fetchone()[0]
    report.equal("change rows logged by the watched-field rounds", logged, "rows", rows * ROUNDS)
    conn.execute("DELETE FROM contact_field_changes")
    conn.execute("VACUUM ANALYZE contacts")


def update_timings(
    conn: psycopg.Connection, statement: str, rows: int
) -> tuple[list[float], list[float]]:
    """Seconds per committed UPDATE of every row: without the trigger, with it (alternating)."""
    plain: list[float] = []
    triggered: list[float] = []
    for number in range(ROUNDS * 2):
        with_trigger = number % 2 == 1
        conn.execute(f"SET session_replication_role = {'origin' if with_trigger else 'replica'}")
        started = time.perf_counter()
        with conn.transaction():
            updated = conn.execute(statement, {"ws": WORKSPACE, "round": number}).rowcount
        (triggered if with_trigger else plain).append(time.perf_counter() - started)
        if updated != rows:
            raise RuntimeError(f"the UPDATE changed {updated} rows, expected {rows}")
    conn.execute("RESET session_replication_role")
    return plain, triggered


def changes_queued_per_second(conninfo: str, rows: int) -> float:
    """`rows` stage changes committed in chunks while one dispatcher queues them."""
    return asyncio.run(_queue_changes(conninfo, rows))


async def _queue_changes(conninfo: str, rows: int) -> float:
    async with (
        await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as dispatcher,
        await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as writer,
    ):
        ids = [
            r[0]
            for r in await (
                await writer.execute(
                    "SELECT id FROM contacts WHERE workspace_id = %s ORDER BY id", (WORKSPACE,)
                )
            ).fetchall()
        ]
        await dispatcher.execute(f"LISTEN {WAKE_DISPATCHER}")
        started = time.perf_counter()
        updates = asyncio.create_task(_commit_stage_changes(writer, ids))
        queued = 0
        while queued < rows:
            queued += (await dispatch_pending(dispatcher, 2000)).queued
            if queued < rows:
                await _next_notification(dispatcher, 0.05)
        elapsed = time.perf_counter() - started
        await updates
    return rows / elapsed


async def _commit_stage_changes(conn: psycopg.AsyncConnection, ids: list) -> None:
    for start in range(0, len(ids), CHUNK):
        await conn.execute(
            "UPDATE contacts SET stage = CASE stage WHEN 'sql' THEN 'opportunity' ELSE 'sql' END "
            "WHERE id = ANY(%s)",
            (ids[start : start + CHUNK],),
        )


async def _next_notification(conn: psycopg.AsyncConnection, timeout_s: float) -> None:
    try:
        async for _ in conn.notifies(timeout=timeout_s, stop_after=1):
            return
    except TimeoutError:
        return


class WorkerProcesses:
    """`count` worker processes on the scratch database, started and ready; SIGTERM at the end."""

    def __init__(self, url: DatabaseUrl, count: int) -> None:
        self.url, self.count = url, count
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> Self:
        env = {**os.environ, "SYNC_DATABASE_URL": self.url.raw}
        command = [
            sys.executable,
            "-m",
            "sync_pipeline.cli",
            "workflows",
            "worker",
            "--concurrency",
            str(WORKER_CONCURRENCY),
            "--poll-seconds",
            "0.2",
        ]
        self.processes = [
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            for _ in range(self.count)
        ]
        for process in self.processes:
            line = process.stdout.readline()
            if "started" not in line:
                self.__exit__()
                raise RuntimeError(f"a worker did not start: {line}{process.stdout.read()}")
        self.ready_at = time.monotonic()
        return self

    def check_alive(self) -> None:
        dead = [p.returncode for p in self.processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{len(dead)} worker(s) exited (codes {dead})")

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def deliveries_per_second(
    conninfo: str, receiver: WebhookReceiver, rows: int, workers: WorkerProcesses
) -> float:
    """Wait until the `rows` queued executions are delivered; first to last arrival."""
    _wait_for_deliveries(receiver, rows, workers, timeout_s=rows / 100 + 60)
    arrivals = sorted(first for first, _, _ in receiver.snapshot().first.values())
    _require_all_completed(conninfo, rows)
    after_ready = [t for t in arrivals if t >= workers.ready_at]
    return len(after_ready) / max(after_ready[-1] - workers.ready_at, 1e-9)


def latency_at_rate(
    conninfo: str, receiver: WebhookReceiver, rate: float, seconds: float, workers: WorkerProcesses
) -> list[float]:
    """Commit stage changes at `rate` per second for `seconds`; each one's delivery latency."""
    before = receiver.distinct_delivered()
    phase_started = time.time()
    produced = _produce_at_rate(conninfo, rate, seconds)
    _wait_for_deliveries(receiver, before + produced, workers, timeout_s=60)
    latencies = []
    for _, arrived, body in receiver.snapshot().first.values():
        changed_at = datetime.fromisoformat(body["changed_at"]).timestamp()
        if changed_at >= phase_started - 1.0 and arrived >= phase_started:
            latencies.append(arrived - changed_at)
    if len(latencies) != produced:
        raise RuntimeError(f"{len(latencies)} latencies for {produced} changes")
    return latencies


def _produce_at_rate(conninfo: str, rate: float, seconds: float) -> int:
    """UPDATE stage every `TICK_S` for `rate * TICK_S` contacts (cycling); answers how many."""
    per_tick = max(round(rate * TICK_S), 1)
    produced = 0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM contacts WHERE workspace_id = %s ORDER BY id", (WORKSPACE,)
            ).fetchall()
        ]
        started = time.perf_counter()
        tick = 0
        while time.perf_counter() - started < seconds:
            chunk = [ids[(produced + i) % len(ids)] for i in range(per_tick)]
            conn.execute(
                "UPDATE contacts SET stage = CASE stage WHEN 'sql' THEN 'opportunity' "
                "ELSE 'sql' END WHERE id = ANY(%s)",
                (chunk,),
            )
            produced += per_tick
            tick += 1
            time.sleep(max(started + tick * TICK_S - time.perf_counter(), 0))
    return produced


def _wait_for_deliveries(
    receiver: WebhookReceiver, expected: int, workers: WorkerProcesses, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while receiver.distinct_delivered() < expected:
        workers.check_alive()
        if time.monotonic() > deadline:
            got = receiver.distinct_delivered()
            raise RuntimeError(f"only {got} of {expected} deliveries arrived in {timeout_s:.0f} s")
        time.sleep(0.05)


def _require_all_completed(conninfo: str, expected: int) -> None:
    deadline = time.monotonic() + 10
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while True:
            done = conn.execute(
                "SELECT count(*) FROM workflow_executions WHERE status = 'completed'"
            ).fetchone()[0]
            if done >= expected or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    if done < expected:
        raise RuntimeError(f"{done} of {expected} executions completed")


def _quantile(values: list[float], q: float) -> float:
    if not values:
        raise RuntimeError("no latency measured")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]
