"""The workflow queue in Dagster: the monitored state and its checks, the drain job, the change
log's partition maintenance and the pruning of completed executions."""

from __future__ import annotations

import dagster as dg
import pytest

from sync_pipeline.bench.webhook_receiver import WebhookReceiver
from sync_pipeline.definitions import defs
from sync_pipeline.workflows.partitions import change_partitions
from sync_pipeline_tests.run_results import check_results
from sync_pipeline_tests.workflows.helpers import enqueue_stage_changes, executions, statuses


@pytest.fixture
def workflow_env(monkeypatch, db_url):
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)


def run_job(name: str, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def(name).execute_in_process(
            instance=instance, run_config=run_config or {}
        )


def test_queue_checks_pass_on_an_empty_queue_and_fail_on_old_jobs_and_dead_letters(
    workflow_env, db, db_url
):
    calm = run_job("workflow_queue_monitor_job")
    assert calm.success and all(c.passed for c in check_results(calm).values())
    assert set(check_results(calm)) == {"queue_depth", "oldest_queued_age", "dead_letters"}

    enqueue_stage_changes(db, db_url.conninfo(), "ws1", "http://127.0.0.1:9/hook", 5)
    db.execute(
        "UPDATE workflow_executions SET scheduled_at = now() - interval '1 hour' "
        "WHERE id IN (SELECT min(id) FROM workflow_executions)"
    )
    db.execute(
        "UPDATE workflow_executions SET status = 'dead' "
        "WHERE id IN (SELECT max(id) FROM workflow_executions)"
    )
    stuck = run_job("workflow_queue_monitor_job")
    checks = check_results(stuck)
    assert not checks["oldest_queued_age"].passed
    assert checks["oldest_queued_age"].metadata["oldest_due_age_s"].value >= 3600
    assert not checks["dead_letters"].passed and checks["dead_letters"].metadata["dead"].value == 1
    assert checks["queue_depth"].passed and checks["queue_depth"].metadata["due"].value == 4
    tight = run_job(
        "workflow_queue_monitor_job",
        {"ops": {"workflow_queue_queue_depth": {"config": {"max_due": 3}}}},
    )
    assert not check_results(tight)["queue_depth"].passed


def test_drain_job_delivers_every_due_execution_then_ends(workflow_env, db, db_url):
    with WebhookReceiver() as receiver:
        enqueue_stage_changes(db, db_url.conninfo(), "ws1", receiver.url, 30)
        # and one change committed but not yet dispatched: the drain job dispatches it too
        db.execute(
            "UPDATE contacts SET stage = 'customer' WHERE id IN (SELECT min(id::text)::uuid "
            "FROM contacts)"
        )
        result = run_job("workflow_drain_job")
        got = receiver.snapshot()
    assert result.success
    assert statuses(db) == {"completed": 31}
    assert len(got.processed) == 31 and got.duplicates == 0


def test_partition_maintenance_job_creates_months_ahead(workflow_env, db):
    for name in change_partitions(db)[1:]:
        db.execute(f'DROP TABLE "{name}"')
    result = run_job(
        "contact_change_partitions_job",
        {"ops": {"maintain_contact_change_partitions": {"config": {"months_ahead": 4}}}},
    )
    assert result.success
    assert len(change_partitions(db)) == 5


def test_queue_checks_and_partitions_run_on_schedules_the_drain_schedule_waits_to_be_on():
    expected = {
        "workflow_queue_monitor_schedule": ("workflow_queue_monitor_job", "RUNNING"),
        "contact_change_partitions_schedule": ("contact_change_partitions_job", "RUNNING"),
        "workflow_drain_schedule": ("workflow_drain_job", "STOPPED"),
        "workflow_executions_prune_schedule": ("workflow_executions_prune_job", "RUNNING"),
    }
    for name, (job, status) in expected.items():
        schedule = defs.resolve_schedule_def(name)
        assert (schedule.job_name, schedule.default_status.value) == (job, status), name


def test_prune_job_deletes_only_completed_executions_past_the_retention(workflow_env, db, db_url):
    enqueue_stage_changes(db, db_url.conninfo(), "ws1", "http://127.0.0.1:9/hook", 6)
    ids = [e["id"] for e in executions(db)]
    ages = {ids[0]: 40, ids[1]: 31, ids[2]: 29}  # days since completed
    for execution_id, days in ages.items():
        db.execute(
            "UPDATE workflow_executions SET status = 'completed', "
            "completed_at = now() - make_interval(days => %s) WHERE id = %s",
            (days, execution_id),
        )
    db.execute(
        "UPDATE workflow_executions SET status = 'dead', updated_at = now() - interval '90 days' "
        "WHERE id = %s",
        (ids[3],),
    )
    result = run_job("workflow_executions_prune_job")
    assert result.success
    assert sorted(e["id"] for e in executions(db)) == ids[2:]
    assert statuses(db) == {"completed": 1, "dead": 1, "queued": 2}
