"""Run monitoring: a run whose worker was SIGKILLed is marked failed by the daemon and frees its
slot; the launcher's health check tells a live worker from a dead or reused process id."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import psycopg
import yaml

from sync_pipeline.dagster_private import EngineEventData
from sync_pipeline.run_launcher import WORKER_PID_TAG, RunWorker, worker_alive
from sync_pipeline.settings import SOURCES, project_root, source_env_names

IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
MONITORING_DEADLINE_S = 90


def test_a_live_worker_is_alive_a_dead_or_reused_one_is_not():
    me = psutil.Process()
    assert worker_alive(RunWorker("here", me.pid, time.time()))
    assert not worker_alive(RunWorker("here", me.pid, me.create_time() - 60))
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert not worker_alive(RunWorker("here", dead.pid, time.time()))


def monitoring_home(tmp_path: Path) -> Path:
    """The project's instance config, checked every second; retries off, so that only
    monitoring acts on the run."""
    config = yaml.safe_load((project_root() / "dagster.yaml").read_text())
    assert config["run_monitoring"]["enabled"] is True
    config["run_monitoring"].update(poll_interval_seconds=1, free_slots_after_run_end_seconds=1)
    config["run_retries"] = {"enabled": False}
    home = tmp_path / "monitoring_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def committed_page(db_url) -> int:
    with psycopg.connect(db_url.conninfo()) as conn:
        row = conn.execute("SELECT page FROM sync_checkpoints WHERE pipeline = 'cars'").fetchone()
    return (row[0] or 0) if row else 0


def start_sync_and_kill_it(db_url, upstream_url: str, tmp_path: Path) -> int:
    """`sync cars --full-refresh`, SIGKILLed after two committed pages; returns its pid."""
    env = {
        **os.environ,
        "SYNC_DATABASE_URL": db_url.raw,
        "SYNC_PIPELINE_HOME": str(tmp_path / "home"),
        "PAGE_SIZE": "50",
        "RPS": "5",
        "BATCH_SIZE": "50",
    }
    env.update({source_env_names(s)[0]: upstream_url for s in SOURCES})
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while committed_page(db_url) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return proc.pid


def wait_for(condition, what: str, timeout: float = MONITORING_DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.5)


def test_monitoring_fails_a_run_whose_worker_was_killed_and_frees_its_slot(
    upstream_factory, db_url, tmp_path, monkeypatch
):
    upstream = upstream_factory(
        sizes={
            "cars": 3000,
            "users": 10,
            "stores": 1,
            "leaderboard_entries": 10,
            "contacts": 10,
            "workspaces": 1,
        }
    )
    pid = start_sync_and_kill_it(db_url, upstream.url, tmp_path)
    home = monitoring_home(tmp_path)
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(filters=dg.RunsFilter(tags={WORKER_PID_TAG: str(pid)}))
        assert run.status == dg.DagsterRunStatus.STARTED, (
            "the killed run is a ghost until monitored"
        )

        daemon_cmd = [
            str(Path(sys.executable).parent / "dagster-daemon"),
            "run",
            "--empty-workspace",
        ]
        daemon_env = {**os.environ, "DAGSTER_HOME": str(home), "SYNC_DATABASE_URL": db_url.raw}
        daemon = subprocess.Popen(
            daemon_cmd,
            env=daemon_env,
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(
                lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE,
                "the killed run marked failed",
            )
            wait_for(
                lambda: run.run_id not in instance.event_log_storage.get_concurrency_run_ids(),
                "the run's pool slots freed",
            )
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=60)

        cars_in_progress = instance.get_runs_count(
            dg.RunsFilter(statuses=IN_PROGRESS, tags={"sync_pipeline/upstream": "cars"})
        )
        assert cars_in_progress == 0, "the cars run-queue slot (limit 1) is free again"
        failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert f"run worker process {pid} on" in failure[-1].message


LAUNCHER = {"module": "sync_pipeline.run_launcher", "class": "ProjectRunLauncher"}


def test_a_launched_run_is_checked_by_the_pid_its_worker_recorded():
    """Runs launched from the UI record their worker in Dagster's "Started process" event."""

    @dg.op
    def noop() -> None: ...

    @dg.job
    def launched() -> None:
        noop()

    with dg.instance_for_test(overrides={"run_launcher": LAUNCHER}) as instance:
        launcher = instance.run_launcher
        run = instance.create_run_for_job(launched)
        assert launcher.check_run_worker_health(run).status.value == "RUNNING"  # not recorded yet
        dead = subprocess.Popen(["true"])
        dead.wait()
        instance.report_engine_event(
            "Started process for run", run, EngineEventData.in_process(dead.pid)
        )
        health = launcher.check_run_worker_health(run)
        assert health.status.value == "FAILED", health
        instance.report_engine_event(
            "Started process for run", run, EngineEventData.in_process(os.getpid())
        )
        assert launcher.check_run_worker_health(run).status.value == "RUNNING"
