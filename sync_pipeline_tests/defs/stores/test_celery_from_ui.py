"""`stores_sync_celery_job` launched as a person launches it: `sync-pipeline dev` running, two
`sync-pipeline worker` processes beside it on the same embedded database, and the run launched
through the webserver's GraphQL API (what the UI's Launchpad sends), queued, then started by
`dev`'s daemon (marker `distributed`; skipped, with the reason, when no broker answers).
"""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

from sync_pipeline.celery_worker import WorkerProcess, broker_reachable
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.instance import persistent_instance
from sync_pipeline_tests.defs.stores.celery_runs import assert_tables_equal_upstream, step_outputs
from sync_pipeline_tests.defs.stores.conftest import upstream_records
from sync_pipeline_tests.ui.browser import DevServer

UNREACHABLE = broker_reachable()
pytestmark = [
    pytest.mark.distributed,
    pytest.mark.slow,
    pytest.mark.skipif(bool(UNREACHABLE), reason=UNREACHABLE),
]

if not UNREACHABLE:
    from sync_pipeline.defs.stores.celery_job import JOB_NAME, STORE_GROUP_STEPS, run_config

RUN_TIMEOUT_S = 300
FINAL = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def test_the_celery_job_launched_from_the_ui_runs_its_steps_on_the_workers(tmp_path):
    queue = f"sync-test-{uuid.uuid4().hex[:8]}"
    dev = DevServer(tmp_path / "home", extra_env={"SYNC_CELERY_VISIBILITY_TIMEOUT": "120"})
    workers: list[WorkerProcess] = []
    try:
        dev.start()
        dev.wait_until_serving()
        env = dev.environment()
        workers = [WorkerProcess(tmp_path / f"worker{i}.log", 2, queue, env) for i in range(2)]
        for worker in workers:
            worker.launch()
        for worker in workers:
            worker.wait_ready()
        ui = DagsterGraphQLClient("127.0.0.1", port_number=dev.port)
        listed = ui.submit_job_execution("stores_list_job")
        assert wait_for_run(ui, listed) == dg.DagsterRunStatus.SUCCESS, dev.log()
        run_id = ui.submit_job_execution(JOB_NAME, run_config=run_config(queue))
        status = wait_for_run(ui, run_id)
        assert status == dg.DagsterRunStatus.SUCCESS, worker_logs(workers) + dev.log()

        db_url = database_of(env)
        with persistent_instance(db_url) as instance:
            outputs = step_outputs(instance, run_id)
            queued = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
            most_at_once = steps_at_once(instance, run_id)
        assert queued, "the run was queued, so the daemon started it"
        assert len(outputs) == STORE_GROUP_STEPS
        assert {m["worker_pid"] for m in outputs.values()} == {w.pid for w in workers}
        # Launched from the UI, the group steps still run side by side: the workers set their
        # pool's limit, which the instance's default (one step at a time) would otherwise be.
        assert most_at_once >= 2, f"at most {most_at_once} group step(s) ran at once"
        synced = sorted(code for m in outputs.values() for code in m["stores"])
        assert synced == sorted(s["code"] for s in upstream_records(dev.upstream, "/stores"))
        assert_tables_equal_upstream(dev.upstream, db_url)
    finally:
        for worker in workers:
            worker.stop()
        dev.stop()


def wait_for_run(ui: DagsterGraphQLClient, run_id: str) -> dg.DagsterRunStatus:
    """The run's status once it has ended (or the last seen after RUN_TIMEOUT_S)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = ui.get_run_status(run_id)
    while status not in FINAL and time.monotonic() < deadline:
        time.sleep(1.0)
        status = ui.get_run_status(run_id)
    return status


def database_of(env: dict[str, str]) -> DatabaseUrl:
    """The database `dev` runs on, resolved by the project's own code in `dev`'s environment
    (its embedded server stays up while `dev` holds it)."""
    script = "from sync_pipeline.db.connect import app_database_url; print(app_database_url().raw)"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return DatabaseUrl.parse(done.stdout.strip())


def steps_at_once(instance: dg.DagsterInstance, run_id: str) -> int:
    """The most steps of the run that were between their start and their end at one time."""
    kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    running, most = 0, 0
    for record in sorted(instance.all_logs(run_id, of_type=kinds), key=lambda r: r.timestamp):
        started = record.dagster_event.event_type == dg.DagsterEventType.STEP_START
        running += 1 if started else -1
        most = max(most, running)
    return most


def worker_logs(workers: list[WorkerProcess]) -> str:
    return "\n".join(Path(w.log_path).read_text(errors="replace")[-2000:] for w in workers)
