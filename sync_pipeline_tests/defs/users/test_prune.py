"""The pruning job deletes finished users checkpoints and quarantined pending rows older than
the retention, and nothing else; its schedule is on by default."""

import dagster as dg

from sync_pipeline.definitions import defs

OLD, RECENT = "now() - interval '10 days'", "now() - interval '1 hour'"


def test_finished_checkpoints_and_old_quarantined_pending_rows_are_pruned(db, db_url, monkeypatch):
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    checkpoints = [
        ("users", "worker:old-done", "completed", OLD),
        ("users", "worker:old-failed", "failed", OLD),
        ("users", "worker:old-running", "running", OLD),
        ("users", "worker:new-done", "completed", RECENT),
        ("cars", "2026-11-01", "completed", OLD),
    ]
    for pipeline, partition, status, stamp in checkpoints:
        db.execute(
            f"INSERT INTO sync_checkpoints (pipeline, partition, run_id, status, updated_at) "
            f"VALUES (%s, %s, 'r', %s, {stamp})",
            (pipeline, partition, status),
        )
    pending = [(1, 0, OLD, OLD), (2, 0, RECENT, RECENT), (3, 0, "NULL", OLD), (4, 1, "NULL", OLD)]
    for user_id, priority, quarantined, detected in pending:
        db.execute(
            "INSERT INTO users_pending_changes (id, summary_fingerprint, priority, quarantined_at, "
            "detected_at, first_detected_at) "
            f"VALUES (%s, %s, %s, {quarantined}, {detected}, {detected})",
            (user_id, bytes(16), priority),
        )

    result = defs.resolve_job_def("users_prune_job").execute_in_process(
        run_config={"ops": {"prune_users_bookkeeping": {"config": {"retention_days": 7}}}}
    )

    assert result.success
    left = {p for (p,) in db.execute("SELECT pipeline || '/' || partition FROM sync_checkpoints")}
    assert left == {"users/worker:old-running", "users/worker:new-done", "cars/2026-11-01"}
    assert {i for (i,) in db.execute("SELECT id FROM users_pending_changes")} == {2, 3, 4}
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {k: v.value for k, v in event.step_output_data.metadata.items()}
    assert (metadata["checkpoints_pruned"], metadata["pending_rows_pruned"]) == (2, 1)


def test_the_pruning_schedule_is_on_by_default():
    schedule = defs.resolve_schedule_def("users_prune_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == "users_prune_job"
