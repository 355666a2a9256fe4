"""Every wait of a run is bounded: row locks, the batch before, a transaction left idle.

Two runs writing the same rows can wait on each other through Python: each run's second batch
holds its rows while it waits (in Python) for the run's first batch to commit, and each first
batch waits (in PostgreSQL) for a row the other run's second batch holds. PostgreSQL sees two
lock waits on idle transactions, no deadlock, and nothing ever ends. With the waits bounded,
such runs fail with a clear error within seconds, and a retry goes through.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine import checkpoints
from sync_pipeline.engine.checkpoints import Position, listing_layout
from sync_pipeline.engine.in_flight import BatchAborted, BatchWaitTimeout, InFlightBatches
from sync_pipeline.engine.sync_run import BatchLockTimeout, SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline_tests.engine.db.runs import sync, table_rows
from sync_pipeline_tests.engine.db.tables import ITEMS, item

BOUNDED = WriteOptions(batch_size=2, parallel_batches=2, lock_timeout_s=1.0, batch_wait_s=5.0)
POOL_NAME = "bounded_waits_test"


def write(pool, partition: str, pages: list[list[dict]], options: WriteOptions = BOUNDED) -> None:
    with SyncRun(
        pool,
        ITEMS,
        pipeline="items",
        partition=partition,
        run_id=f"run-{partition}",
        options=options,
        layout=listing_layout(len(pages[0]) if pages else 0),
    ) as run:
        for number, page in enumerate(pages, start=1):
            run.add_page(page, Position(page=number))
        run.finish()


def in_thread(target, *args) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run() -> None:
        try:
            target(*args)
            outcome.append(None)
        except Exception as error:  # noqa: BLE001 - the test inspects what each run raised
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def sessions(monitor: psycopg.Connection, **where: str) -> int:
    condition = " AND ".join(f"{column} = %({column})s" for column in where)
    return monitor.execute(
        f"SELECT count(*) FROM pg_stat_activity WHERE application_name = %(app)s AND {condition}",
        {"app": POOL_NAME, **where},
    ).fetchone()[0]


def wait_until(check, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the runs never reached the state the test sets up"
        time.sleep(0.02)


def unlocked(monitor: psycopg.Connection, ids: list[int]) -> list[int]:
    """The rows of `ids` that no transaction holds locked right now."""
    rows = monitor.execute(
        "SELECT id FROM items WHERE id = ANY(%s) FOR UPDATE SKIP LOCKED", (ids,)
    ).fetchall()
    return [row[0] for row in rows]


def renamed(ids: list[int], run: str) -> list[dict]:
    return [item(i, name=f"{run} {i}") for i in ids]


def test_two_runs_waiting_on_each_other_through_python_fail_fast_and_a_retry_goes_through(
    tables, db_url
):
    sync_all = [item(i) for i in (1, 2, 50, 60)]
    with (
        open_pool(db_url, max_size=8, name=POOL_NAME) as pool,
        psycopg.connect(db_url.conninfo(), autocommit=True) as monitor,
        psycopg.connect(db_url.conninfo()) as gate,
    ):
        sync(pool, ITEMS, sync_all, page_size=4, pipeline="items", partition="seed")
        # The gate holds rows 1 and 2, the first rows (rows are locked in key order) of each run's
        # first batch, until each run's second batch has locked its own row and waits in Python.
        gate.execute("UPDATE items SET name = 'gate' WHERE id IN (1, 2)")
        pages_a = [renamed([1, 50], "a"), renamed([60], "a")]
        pages_b = [renamed([2, 60], "b"), renamed([50], "b")]
        started = time.monotonic()
        runs = [in_thread(write, pool, "a", pages_a), in_thread(write, pool, "b", pages_b)]
        # A second batch is idle in its transaction before it has written (between statements):
        # wait until both also hold their rows.
        wait_until(
            lambda: (
                sessions(monitor, wait_event_type="Lock") == 2
                and sessions(monitor, state="idle in transaction") == 2
                and not unlocked(monitor, [50, 60])
            )
        )
        gate.rollback()
        # now a's first batch needs 50 (b's second holds it), b's first needs 60 (a's)
        for thread, _ in runs:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread, _ in runs), "the runs hang on each other"
        errors = [outcome[0] for _, outcome in runs]
        assert time.monotonic() - started < 30
        assert any(isinstance(e, BatchLockTimeout) for e in errors), errors
        assert all(
            e is None or isinstance(e, (BatchLockTimeout, BatchAborted, BatchWaitTimeout))
            for e in errors
        )
        assert "waited more than 1 s for row locks another writer holds" in str(
            next(e for e in errors if isinstance(e, BatchLockTimeout))
        )
        for partition, error in zip("ab", errors):
            stored = checkpoints.read_checkpoint(monitor, "items", partition)
            assert stored.status == ("failed" if error else "completed")

        for partition, pages, error in zip("ab", (pages_a, pages_b), errors):
            if error is not None:
                write(pool, partition, pages)  # the retry
        names = {row["id"]: row["name"] for row in table_rows(monitor, "items")}
    assert names[1] == "a 1" and names[2] == "b 2"


def test_a_batch_blocked_on_a_row_lock_fails_within_the_lock_timeout(tables, db_url):
    with (
        open_pool(db_url, max_size=4, name=POOL_NAME) as pool,
        psycopg.connect(db_url.conninfo()) as holder,
    ):
        sync(pool, ITEMS, [item(i) for i in range(1, 5)], pipeline="items", partition="seed")
        holder.execute("UPDATE items SET name = 'held' WHERE id = 3")
        started = time.monotonic()
        with pytest.raises(BatchLockTimeout, match="a batch of 4 records waited more than 1 s"):
            write(
                pool,
                "all",
                [renamed([1, 2, 3, 4], "new")],
                WriteOptions(batch_size=4, lock_timeout_s=1.0),
            )
        assert time.monotonic() - started < 15
        holder.rollback()
        assert checkpoints.read_checkpoint(holder, "items", "all").status == "failed"


def test_waiting_for_the_batch_before_is_bounded():
    release = threading.Event()
    with ThreadPoolExecutor(2) as executor:
        batches = InFlightBatches(executor, 2, lambda result: None, wait_timeout_s=0.3)
        batches.submit({1}, lambda wait_for_previous: release.wait(30))
        batches.submit({2}, lambda wait_for_previous: wait_for_previous())
        started = time.monotonic()
        with pytest.raises(
            BatchWaitTimeout, match="waited more than 0.3 s for the batch before it"
        ):
            batches._pending[1][0].result(timeout=30)
        assert time.monotonic() - started < 10
        release.set()
        with pytest.raises(BatchWaitTimeout):
            batches.drain()


def test_a_transaction_left_idle_is_ended_by_the_server_and_frees_its_rows(tables, db_url):
    with open_pool(db_url, max_size=3, name=POOL_NAME, idle_in_transaction_s=0.5) as pool:
        sync(pool, ITEMS, [item(1)], pipeline="items", partition="seed")
        with pool.connection() as conn:
            conn.execute("UPDATE items SET name = 'idle' WHERE id = 1")
            time.sleep(1.5)
            with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
                conn.execute("SELECT 1")
    with psycopg.connect(db_url.conninfo()) as other:
        other.execute("SET lock_timeout = '2s'")
        assert other.execute(
            "UPDATE items SET name = 'free' WHERE id = 1 RETURNING id"
        ).fetchone() == (1,)
