"""`sync-pipeline workflows worker` as a process: SIGKILL mid-delivery loses nothing, SIGTERM
stops gracefully, the metrics endpoint serves the queue's state, and a lost database connection
does not end the process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx

from sync_pipeline.bench.webhook_receiver import WebhookReceiver
from sync_pipeline.workflows.worker import APPLICATION_NAME
from sync_pipeline_tests.workflows.helpers import (
    add_contact,
    enqueue_stage_changes,
    executions,
    set_stage,
    statuses,
    wait_until,
)

JOBS = 24


def start_worker(db_url, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "SYNC_DATABASE_URL": db_url.raw}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync_pipeline.cli",
            "workflows",
            "worker",
            "--concurrency",
            "4",
            "--lease-seconds",
            "2.5",
            "--timeout-seconds",
            "1",
            "--poll-seconds",
            "0.1",
            "--backoff-seconds",
            "0.05",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.kill()
    out, _ = process.communicate(timeout=10)
    return out


def test_worker_killed_mid_delivery_loses_nothing_and_delivers_each_key_once(db, db_url):
    # The first attempt of every key is slow, so SIGKILL lands while deliveries are in flight.
    with WebhookReceiver(lambda key, seen: (200, {}, 0.6 if seen == 0 else 0.0)) as receiver:
        enqueue_stage_changes(db, db_url.conninfo(), "ws1", receiver.url, JOBS)
        doomed = start_worker(db_url)
        try:
            wait_until(lambda: len(receiver.snapshot().requests) >= 6, 20, "deliveries in flight")
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)
        finally:
            stop(doomed)
        assert statuses(db).get("completed", 0) < JOBS
        survivor = start_worker(db_url)
        try:
            wait_until(lambda: statuses(db) == {"completed": JOBS}, 30, "every job completed")
        finally:
            out = stop(survivor)
        got = receiver.snapshot()
    keys = {str(e["delivery_id"]) for e in executions(db)}
    assert set(got.processed) == keys, out
    assert set(got.processed.values()) == {1}
    assert got.duplicates >= 1  # the jobs the killed worker had in flight were delivered again


def test_sigterm_finishes_in_flight_deliveries_and_metrics_are_served(db, db_url):
    with WebhookReceiver(lambda key, seen: (200, {}, 0.3)) as receiver:
        enqueue_stage_changes(db, db_url.conninfo(), "ws1", receiver.url, JOBS, priority=3)
        worker = start_worker(db_url, "--metrics-port", "0")
        try:
            port = int(re.search(r"127\.0\.0\.1:(\d+)/metrics", worker.stdout.readline()).group(1))
            wait_until(lambda: len(receiver.snapshot().requests) >= 4, 20, "deliveries in flight")
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            worker.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert worker.wait(15) == 0
            stopped_in = time.monotonic() - started
        finally:
            out = stop(worker)
    assert 'workflow_queue_depth{priority="3",status=' in metrics
    assert "workflow_queue_oldest_due_age_seconds" in metrics
    assert "workflow_delivery_seconds_bucket" in metrics
    assert "worker stopped" in out and stopped_in < 10
    state = statuses(db)
    assert "processing" not in state, state
    assert state.get("completed", 0) >= 4 and sum(state.values()) == JOBS


def test_worker_survives_losing_its_database_connections(db, db_url):
    with WebhookReceiver() as receiver:
        enqueue_stage_changes(db, db_url.conninfo(), "ws1", receiver.url, 4)
        worker = start_worker(db_url)
        try:
            wait_until(lambda: statuses(db) == {"completed": 4}, 20, "the first jobs completed")
            terminated = db.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                (APPLICATION_NAME,),
            ).fetchone()[0]
            contacts = [add_contact(db, "ws1") for _ in range(4)]
            for contact in contacts:
                set_stage(db, contact, "opportunity")
            wait_until(
                lambda: statuses(db) == {"completed": 8}, 20, "jobs after the loss completed"
            )
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(15) == 0
        finally:
            out = stop(worker)
        got = receiver.snapshot()
    assert terminated >= 4, out
    assert "database connection lost" in out and out.count(" started (concurrency") == 2, out
    assert len(got.processed) == 8 and set(got.processed.values()) == {1}
