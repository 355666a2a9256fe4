"""A cars step retries what can pass on a second try, and nothing else: a busy scope is tried
again once the other writer is gone; a failed blocking check fails the run once."""

from __future__ import annotations

import threading
import time

import psycopg

from sync_pipeline.defs import step_failures
from sync_pipeline.engine.scope_lock import scope_lock
from sync_pipeline_tests.defs.cars.conftest import check_results, run_cars

PARTITION = "2026-11-01"
RETRY_EVENTS = {"STEP_UP_FOR_RETRY", "STEP_RESTARTED"}


def test_a_busy_scope_is_retried_once_the_other_writer_is_gone(
    cars_env, db_url, instance, monkeypatch
):
    monkeypatch.setattr(step_failures, "SCOPE_BUSY_WAIT_S", 1)
    held, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with (
            psycopg.connect(db_url.conninfo(), autocommit=True) as conn,
            scope_lock(conn, "cars", PARTITION),
        ):
            held.set()
            release.wait(30)

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        assert held.wait(10)
        threading.Timer(2.0, release.set).start()
        started = time.monotonic()
        result = run_cars(instance, partition=PARTITION)
    finally:
        release.set()
        writer.join()
    events = [e.event_type_value for e in result.all_events]
    assert result.success
    assert "STEP_UP_FOR_RETRY" in events
    retry = next(e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")
    assert "ScopeBusy" in str(retry.event_specific_data.error.cause)
    assert time.monotonic() - started >= 1.0


def test_a_failed_blocking_check_is_not_retried(cars_env, instance):
    result = run_cars(instance, partition=PARTITION, max_error_rate=-1.0)
    events = {e.event_type_value for e in result.all_events}
    assert not result.success
    assert check_results(result)["error_rate"].passed is False
    assert "STEP_FAILURE" in events and not events & RETRY_EVENTS
