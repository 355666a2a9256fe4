"""The queue gauges of a worker's metrics: read at scrape time, through a lost connection, and
left out (counters still served) while PostgreSQL cannot be reached."""

from __future__ import annotations

import socket

from prometheus_client import generate_latest

from sync_pipeline.workflows.metrics import METRICS_APPLICATION_NAME, WorkerMetrics
from sync_pipeline_tests.workflows.helpers import enqueue_stage_changes
from sync_pipeline_tests.workflows.test_worker import sample

URL = "http://127.0.0.1:9/hook"


def scrape(metrics: WorkerMetrics) -> str:
    return generate_latest(metrics.registry).decode()


def test_queue_gauges_are_read_again_after_the_connection_was_lost(db, db_url):
    metrics = WorkerMetrics(db_url.conninfo(), state_max_age_s=0.0)
    try:
        empty = scrape(metrics)
        enqueue_stage_changes(db, db_url.conninfo(), "ws1", URL, 2, priority=4)
        terminated = db.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (METRICS_APPLICATION_NAME,),
        ).fetchone()[0]
        after_loss = scrape(metrics)
    finally:
        metrics.close()
    assert terminated == 1
    assert sample(empty, "workflow_queue_state_up") == 1
    assert 'workflow_queue_depth{priority="4"' not in empty
    assert sample(after_loss, "workflow_queue_state_up") == 1
    assert sample(after_loss, 'workflow_queue_depth{priority="4",status="queued"}') == 2


def test_counters_are_served_while_the_database_cannot_be_reached():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    metrics = WorkerMetrics(
        f"host=127.0.0.1 port={closed_port} dbname=none user=none", state_max_age_s=0.0
    )
    try:
        metrics.deliveries.inc()
        text = scrape(metrics)
    finally:
        metrics.close()
    assert sample(text, "workflow_queue_state_up") == 0
    assert "workflow_queue_depth{" not in text
    assert sample(text, "workflow_deliveries_total") == 1
