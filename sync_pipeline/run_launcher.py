"""Dagster's default run launcher, plus the worker health check that run monitoring needs.

`DefaultRunLauncher` cannot tell whether a run's worker process still lives, so a run whose
worker was SIGKILLed (a `sync-pipeline sync` killed mid-way, a code server that died) stays
STARTED for ever and holds its run-queue slot. Every run here records where its worker runs:
Dagster's "Started process for run (pid: N)" engine event for runs launched from the UI, a
schedule or a sensor, and the `sync_pipeline/worker_*` tags for runs the CLI executes in its
own process. The monitoring daemon (`run_monitoring` in dagster.yaml) calls
`check_run_worker_health`; a worker that is gone from this host is reported FAILED, and the
daemon marks the run failed, which frees its slot.

Launched run workers are children of a code server the webserver or daemon started on this host
(as `sync-pipeline dev` and `dagster dev` do). A worker recorded on another host cannot be
checked from here and counts as running; `dagster/max_runtime` bounds those runs.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import dagster as dg
import psutil

from sync_pipeline.dagster_private import CheckRunHealthResult, WorkerStatus

WORKER_HOST_TAG = "sync_pipeline/worker_host"
WORKER_PID_TAG = "sync_pipeline/worker_pid"
# A worker process is created before the evidence of it is written; more than this much after
# means the id now belongs to another process.
PID_REUSE_SLACK_S = 5.0


@dataclass(frozen=True)
class RunWorker:
    """Where a run's worker process runs, and when that was recorded."""

    host: str
    pid: int
    recorded_at: float


def worker_tags() -> dict[str, str]:
    """Tags for a run executed in this process (`execute_in_process`), for the health check."""
    return {WORKER_HOST_TAG: socket.gethostname(), WORKER_PID_TAG: str(os.getpid())}


def run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunWorker | None:
    """The run's worker from its tags, else from the latest "Started process" engine event."""
    if WORKER_PID_TAG in run.tags:
        record = instance.get_run_record_by_id(run.run_id)
        created = record.create_timestamp.timestamp() if record else 0.0
        return RunWorker(run.tags.get(WORKER_HOST_TAG, ""), int(run.tags[WORKER_PID_TAG]), created)
    for entry in reversed(instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            return RunWorker(socket.gethostname(), int(pid.value), entry.timestamp)
    return None


def worker_alive(worker: RunWorker) -> bool:
    """Whether the worker's process still exists (and is the same process, not a reused id)."""
    try:
        created = psutil.Process(worker.pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    return created <= worker.recorded_at + PID_REUSE_SLACK_S


class ProjectRunLauncher(dg.DefaultRunLauncher):
    """`DefaultRunLauncher` that can tell run monitoring whether a run's worker still lives."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        worker = run_worker(self._instance, run)
        if worker is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "worker process not recorded yet")
        where = f"process {worker.pid} on {worker.host}"
        if worker.host != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"{where} cannot be checked here")
        if worker_alive(worker):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"{where} is alive")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker {where} is gone")


def release_slots_of_dead_runs(instance: dg.DagsterInstance, pools: list[str]) -> list[str]:
    """Free the pool slots that runs which can no longer free them hold; returns their run ids.

    A run killed with SIGKILL keeps its slot: without the daemon (a `sync-pipeline sync` from
    the terminal, no `dev` running) nobody frees it, and the next run of that pool would wait
    for ever. Freed here: slots of finished (or deleted) runs, and of started runs whose worker
    on this host is gone (such a run is marked failed, as run monitoring would mark it).
    """
    storage = instance.event_log_storage
    holders: set[str] = set()
    for pool in pools:
        info = storage.get_concurrency_info(pool)
        holders |= info.active_run_ids | {step.run_id for step in info.pending_steps}
    released = []
    for run_id in sorted(holders):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            worker = run_worker(instance, run)
            if worker is None or worker.host != socket.gethostname() or worker_alive(worker):
                continue
            instance.report_run_failed(run, f"run worker process {worker.pid} is gone")
        storage.free_concurrency_slots_for_run(run_id)
        released.append(run_id)
    return released
