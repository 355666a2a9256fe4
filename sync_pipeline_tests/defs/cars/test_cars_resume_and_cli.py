"""A cars run killed mid-way resumes from its checkpoint; the `sync` command's exit codes."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid

import dagster as dg
import psycopg

from sync_pipeline import registry
from sync_pipeline.db.connect import dagster_database_url
from sync_pipeline.instance import persistent_instance
from sync_pipeline.run_launcher import release_slots_of_dead_runs
from sync_pipeline.settings import SOURCES, source_env_names
from sync_pipeline_tests.defs.cars.conftest import materialization_metadata, run_cars
from sync_pipeline_tests.defs.cars.upstream_compare import stored_cars, upstream_cars


def sync_cli_env(db_url, upstream_url, tmp_path, **extra) -> dict[str, str]:
    env = {
        **os.environ,
        "SYNC_DATABASE_URL": db_url.raw,
        "SYNC_PIPELINE_HOME": str(tmp_path),
        **extra,
    }
    env.update({source_env_names(s)[0]: upstream_url for s in SOURCES})
    return env


def committed_page(db_url) -> int:
    with psycopg.connect(db_url.conninfo()) as conn:
        row = conn.execute(
            "SELECT page FROM sync_checkpoints WHERE pipeline = 'cars' AND partition = 'full'"
        ).fetchone()
    return (row[0] or 0) if row else 0


def test_killed_full_refresh_resumes_without_gaps_or_duplicates(
    cars_env, db_url, instance, tmp_path
):
    env = sync_cli_env(db_url, cars_env.url, tmp_path, PAGE_SIZE="50", RPS="10", BATCH_SIZE="50")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while committed_page(db_url) < 8 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = committed_page(db_url)
    assert 8 <= killed_at < 60
    bury_killed_run(db_url)

    result = run_cars(instance, full_refresh=True, page_size=50)
    assert result.success
    snapshot = materialization_metadata(result, "cars_snapshot")
    assert snapshot["resumed_from_page"] == killed_at + 1
    changes = materialization_metadata(result, "cars_changes")
    assert changes["inserted"] + changes["unchanged"] == snapshot["records"]
    with psycopg.connect(db_url.conninfo()) as conn:
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT id) FROM cars").fetchone()
    assert rows == distinct
    assert stored_cars(db_url.conninfo()) == upstream_cars(cars_env.url)


def bury_killed_run(db_url) -> None:
    """What the next `sync` does before it starts (and run monitoring does under `dev`): the
    killed run, whose worker is gone, is marked failed and its `cars_api` pool slot freed, so
    that later runs of the pool are not held behind a ghost."""
    with psycopg.connect(db_url.conninfo()) as conn:
        (run_id,) = conn.execute(
            "SELECT run_id FROM sync_checkpoints WHERE partition = 'full'"
        ).fetchone()
    pool = registry.source("cars").pool
    with persistent_instance(db_url) as dagster:
        run = dagster.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED, (
            "the killed run is a ghost"
        )
        assert run_id in dagster.event_log_storage.get_concurrency_info(pool).active_run_ids
        assert release_slots_of_dead_runs(dagster, [pool]) == [run_id]
        assert dagster.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert run_id not in dagster.event_log_storage.get_concurrency_info(pool).active_run_ids


def test_sync_command_exit_codes_and_summary(cars_env, db_url, tmp_path):
    env = sync_cli_env(db_url, cars_env.url, tmp_path, RPS="500", PAGE_SIZE="500")
    ok = subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "succeeded" in ok.stdout and "check reconciliation: passed" in ok.stdout
    # not a terminal: the summary's table as plain lines, no Markdown
    assert any(line.startswith("inserted 3,000, updated 0") for line in ok.stdout.splitlines())
    assert "**" not in ok.stdout and "|---" not in ok.stdout

    bad_partition = subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--partition", "1999-01-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert bad_partition.returncode == 2
    assert "not a partition" in bad_partition.stderr


def test_a_failed_check_is_one_line_per_check_with_target_and_run_id_and_no_stack_trace(
    cars_env, upstream_factory, db_url, tmp_path
):
    env = sync_cli_env(db_url, cars_env.url, tmp_path, RPS="500", PAGE_SIZE="500")
    command = [sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"]
    assert (
        subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=300, check=False
        ).returncode
        == 0
    )
    # An upstream with far fewer cars: too many missing to delist, so reconciliation fails.
    smaller = upstream_factory(
        profile="none",
        seed=1,
        sizes={
            "cars": 500,
            "users": 10,
            "stores": 1,
            "leaderboard_entries": 1,
            "contacts": 0,
            "workspaces": 1,
        },
    )
    env.update({source_env_names(s)[0]: smaller.url for s in SOURCES})
    failed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    (run_id,) = set(run_ids_in(output))
    check_lines = [line for line in failed.stdout.splitlines() if line.startswith("check ")]
    names = [line.split(":")[0] for line in check_lines]
    assert len(names) == len(set(names)) >= 3, check_lines
    (reconciliation,) = [line for line in check_lines if line.startswith("check reconciliation:")]
    assert f"FAILED (ERROR) in run {run_id}" in reconciliation and "target=" in reconciliation
    assert "Traceback" not in output and "Stack Trace" not in output and 'File "' not in output
    assert failed.stderr.strip() == "", failed.stderr


def run_ids_in(output: str) -> list[str]:
    return re.findall(
        r"\brun ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b", output
    )


def event_log_text(db_url, run_id: str) -> str:
    """Every stored event of the run, as Dagster serialized it (Dagster's own database)."""
    with psycopg.connect(dagster_database_url(db_url).conninfo()) as conn:
        rows = conn.execute("SELECT event FROM event_logs WHERE run_id = %s", (run_id,)).fetchall()
    assert rows, f"no events stored for run {run_id}"
    return "\n".join(row[0] for row in rows)


def test_sync_command_against_an_upstream_that_requires_a_token(upstream_factory, db_url, tmp_path):
    token = f"secret-{uuid.uuid4().hex}"
    guarded = upstream_factory(profile="none", seed=1, token=token)
    env = sync_cli_env(db_url, guarded.url, tmp_path, RPS="500", PAGE_SIZE="500")
    command = [sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"]

    for presented, expected_code in ((None, 1), (f"wrong-{uuid.uuid4().hex}", 1), (token, 0)):
        run_env = {k: v for k, v in env.items() if k != "SYNC_CARS_API_TOKEN"}
        if presented:
            run_env["SYNC_CARS_API_TOKEN"] = presented
        done = subprocess.run(
            command, env=run_env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == expected_code, (
            presented and presented[:6],
            done.stdout + done.stderr,
        )
        (run_id,) = set(run_ids_in(done.stdout + done.stderr))
        events = event_log_text(db_url, run_id)
        for secret in filter(None, (token, presented)):
            assert secret not in done.stdout and secret not in done.stderr
            assert secret not in events
    assert committed_cars(db_url) > 0, "the run with the right token stored the cars"


def committed_cars(db_url) -> int:
    with psycopg.connect(db_url.conninfo()) as conn:
        return conn.execute("SELECT count(*) FROM cars WHERE deleted_at IS NULL").fetchone()[0]
