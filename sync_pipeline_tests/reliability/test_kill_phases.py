"""`kill -9` of a cars run worker at named phases of a batch: while it fetches, while its COPY
runs, while its merge runs, and after the batch is written but before it commits (the
checkpoint update in flight).

The engine has no test hook: the test holds the worker at the phase from outside. A COPY or a
merge into `cars` waits while the test holds `LOCK TABLE cars IN SHARE MODE` (reads and row
locks still pass); the checkpoint update waits while the test holds its row `FOR UPDATE`; a
fetch waits while the upstream answers slowly. Once `pg_stat_activity` shows the worker's
statement waiting at that phase (or, for the fetch, a request arrived and no statement of the
worker runs), the worker gets SIGKILL. After each kill the next run resumes from the checkpoint,
fetches no page before it again, and the table equals the upstream record by record.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from sync_pipeline.db.pool import open_pool
from sync_pipeline.entities.cars import CARS
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.reliability.plugin import Figures
from sync_pipeline_tests.reliability.sources import CARS_SETTINGS, cars_full_refresh
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.test_kill import committed_page
from sync_pipeline_tests.reliability.truth import compare, page_records

CARS_COUNT = 800
WORKER_NAME = "killed_worker"  # the worker's application_name (`reliability.worker`)
WAIT_S = 60
ADVANCE = "%rows_done = rows_done +%"  # the checkpoint update of a batch (`checkpoints.advance`)


def worker_sessions(db: psycopg.Connection) -> list[tuple[str, str | None, str]]:
    """(state, wait_event_type, query) of the worker's sessions in this test's database."""
    return db.execute(
        "SELECT coalesce(state, ''), wait_event_type, query FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = current_database()",
        (WORKER_NAME,),
    ).fetchall()


def waiting_on_lock(pattern: str) -> Callable[[psycopg.Connection], bool]:
    """True once a worker statement matching `pattern` (LIKE) waits for a lock."""

    def check(db: psycopg.Connection) -> bool:
        return bool(
            db.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
                "AND datname = current_database() AND wait_event_type = 'Lock' "
                "AND query LIKE %s",
                (WORKER_NAME, pattern),
            ).fetchone()
        )

    return check


def wait_until(condition: Callable[[], bool], worker: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert worker.poll() is None, f"the worker ended before {what}"
        assert time.monotonic() < deadline, f"the worker never reached {what}"
        time.sleep(0.01)


@contextmanager
def running_worker(db_url, db: psycopg.Connection, upstream_url: str) -> Iterator[subprocess.Popen]:
    """A cars full-refresh worker; SIGKILLed by the block, waited for until its sessions end."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "sync_pipeline_tests.reliability.worker", "cars"]
        + [db_url.raw, upstream_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=30)


def kill(worker: subprocess.Popen) -> None:
    assert worker.poll() is None, "the worker ended before the kill"
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL


def sessions_gone(db: psycopg.Connection) -> None:
    """Wait until the killed worker's sessions ended (their transactions rolled back)."""
    deadline = time.monotonic() + WAIT_S
    while worker_sessions(db):
        assert time.monotonic() < deadline, f"sessions outlived the worker: {worker_sessions(db)}"
        time.sleep(0.02)


def advanced_this_run(db: psycopg.Connection, since: int) -> Callable[[], bool]:
    """True once the running refresh has committed a batch past page `since`."""
    return lambda: (
        db.execute(
            "SELECT 1 FROM sync_checkpoints WHERE pipeline = 'cars' AND partition = 'full' "
            "AND status = 'running' AND page > %s",
            (since,),
        ).fetchone()
        is not None
    )


def kill_while_fetching(db_url, db, server: UpstreamProcess) -> None:
    """Pages answer in 0.4 s until the first commit, then in 3 s: the kill comes once a slow
    request arrived and no statement of the worker runs."""
    server.admin("faults", {"source": "cars", "latency_ms": [400, 400]})
    with running_worker(db_url, db, server.url) as worker:
        wait_until(advanced_this_run(db, 0), worker, "its first commit")
        server.admin("faults", {"source": "cars", "latency_ms": [3000, 3000]})
        asked = server.admin("stats")["endpoints"]["cars.list"]["requests"]

        def fetching() -> bool:
            arrived = server.admin("stats")["endpoints"]["cars.list"]["requests"] > asked
            return arrived and all(state == "idle" for state, _, _ in worker_sessions(db))

        wait_until(fetching, worker, "a slow fetch with no statement running")
        kill(worker)
    server.admin("faults", {"source": "cars", "latency_ms": [0, 0]})


def kill_in_statement(db_url, db, server: UpstreamProcess, hold: sql.Composable, pattern: str):
    """Kill the worker while its statement matching `pattern` waits on the lock `hold` takes.

    The lock is taken after the run's first commit, so the kill falls mid-run; pages answer in
    0.3 s meanwhile, so the run is still going by then (the holder connects beforehand)."""
    server.admin("faults", {"source": "cars", "latency_ms": [300, 300]})
    with psycopg.connect(db_url.raw) as holder, running_worker(db_url, db, server.url) as worker:
        wait_until(advanced_this_run(db, 0), worker, "its first commit")
        holder.execute(hold)
        wait_until(lambda: waiting_on_lock(pattern)(db), worker, f"a statement {pattern}")
        kill(worker)
        holder.rollback()
    server.admin("faults", {"source": "cars", "latency_ms": [0, 0]})
    sessions_gone(db)


def resume_and_compare(
    db_url, db, server: UpstreamProcess, seed: int, figures: Figures, phase: str
) -> None:
    """Run the refresh to its end; it must resume after the committed page, fetch nothing before
    it and leave the table equal to the upstream."""
    sessions_gone(db)
    resume_from = committed_page(db) + 1
    assert resume_from > 1, "the killed run committed nothing"
    pages = -(-len(page_records(server.url, "/cars")) // CARS_SETTINGS.page_size)
    server.admin("stats/reset", {})
    with open_pool(db_url, max_size=6, name="resumed") as pool:
        outcome = cars_full_refresh(pool, server)
    assert outcome.resumed_from_page == resume_from
    fetched = server.admin("stats")["endpoints"]["cars.list"]["requests"]
    past_the_end = 1  # a full last page makes the walk ask for the next one
    budget = pages - resume_from + 1 + past_the_end + outcome.walk.reread_pages
    assert fetched <= budget, f"pages before the checkpoint fetched again: {fetched} > {budget}"
    truth = page_records(server.url, "/cars")
    assert_exact(
        figures, f"kill -9 of the run worker {phase}", 1, compare(db, CARS, truth, seed, "cars")
    )


def test_cars_worker_killed_at_each_phase_resumes_and_converges(
    fresh_upstream, db_url, db, seed, figures: Figures
):
    server = fresh_upstream(seed, cars=CARS_COUNT)
    share_lock = sql.SQL("LOCK TABLE {} IN SHARE MODE").format(CARS.table_sql)
    checkpoint_row = sql.SQL(
        "SELECT 1 FROM sync_checkpoints WHERE pipeline = 'cars' AND partition = 'full' FOR UPDATE"
    )

    kill_while_fetching(db_url, db, server)
    resume_and_compare(db_url, db, server, seed, figures, "during fetch")

    server.admin("mutate", {"source": "cars", "insert": 0.5})  # new keys: COPYed straight in
    kill_in_statement(db_url, db, server, share_lock, "COPY %")
    resume_and_compare(db_url, db, server, seed, figures, "during COPY")

    server.admin("mutate", {"source": "cars", "update": 0.5})  # changed keys: staged, merged
    kill_in_statement(db_url, db, server, share_lock, "INSERT INTO %ON CONFLICT%")
    resume_and_compare(db_url, db, server, seed, figures, "during merge")

    server.admin("mutate", {"source": "cars", "update": 0.5})
    kill_in_statement(db_url, db, server, checkpoint_row, ADVANCE)
    resume_and_compare(db_url, db, server, seed, figures, "between checkpoint and commit")
