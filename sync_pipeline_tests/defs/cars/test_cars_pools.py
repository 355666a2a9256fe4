"""Two backfills of every cars partition, launched together through Dagster's implicit asset
job (what a UI backfill or a Materialize click runs, without `cars_sync_job`'s tags), run one
after the other: the `cars_api` pool, limited to 1 by `sync-pipeline migrate`, holds the
second run's step until the first one's ends."""

from __future__ import annotations

import subprocess
import sys
import uuid

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.cli import main
from sync_pipeline.instance import persistent_instance

STEP = "cars_sync"
POOL = registry.source("cars").pool


def test_two_cars_backfills_run_one_after_the_other(cars_env, db_url, monkeypatch):
    monkeypatch.setenv("RPS", "4")
    assert main(["migrate"]) == 0
    assert _pool_limit(db_url) == 1

    run_ids = _launch_together(
        [f"backfill-a-{uuid.uuid4().hex[:8]}", f"backfill-b-{uuid.uuid4().hex[:8]}"]
    )

    with persistent_instance(db_url) as instance:
        runs = [instance.get_run_by_id(run_id) for run_id in run_ids]
        assert [run.job_name for run in runs] == ["__ASSET_JOB", "__ASSET_JOB"]
        assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
        first, second = sorted(_step_window(instance, run_id) for run_id in run_ids)
        blocked = [run_id for run_id in run_ids if _was_blocked(instance, run_id)]
    assert first[1] <= second[0], f"steps overlapped: {first} and {second}"
    assert len(blocked) == 1, "exactly one run waited for the pool (the runs did not contend)"


def _launch_together(backfill_ids: list[str]) -> list[str]:
    """Start one backfill run process per id, release them at once, return their run ids."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "sync_pipeline_tests.defs.cars.backfill_run", bid],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for bid in backfill_ids
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=240)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    lines = [
        line.split() for out in outputs for line in out.splitlines() if line.startswith("run ")
    ]
    assert len(lines) == 2, outputs
    return [line[1] for line in lines]


def _pool_limit(db_url) -> int | None:
    with persistent_instance(db_url) as instance:
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
    return limits.get(POOL)


def _step_window(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float]:
    """(first start, success) of the sync step: a retried step's first attempt counts."""
    events = instance.all_logs(run_id)
    starts = [
        e.timestamp
        for e in events
        if e.dagster_event
        and e.dagster_event.step_key == STEP
        and e.dagster_event.event_type_value == "STEP_START"
    ]
    ends = [
        e.timestamp
        for e in events
        if e.dagster_event
        and e.dagster_event.step_key == STEP
        and e.dagster_event.event_type_value == "STEP_SUCCESS"
    ]
    assert starts and ends, f"run {run_id}: step {STEP} did not start and succeed"
    return min(starts), max(ends)


def _was_blocked(instance: dg.DagsterInstance, run_id: str) -> bool:
    message = f"Step blocked by limit for pool {POOL}"
    return any(
        e.user_message == message
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    )
