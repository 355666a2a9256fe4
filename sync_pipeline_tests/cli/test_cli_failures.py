"""Bad input gets one line and the right exit code before anything starts; Ctrl-C keeps the
checkpoint and says how to resume."""

import os
import signal
import subprocess
import sys
import time

import psycopg

from sync_pipeline.db.connect import dagster_database_url
from sync_pipeline.settings import SOURCES, Settings, source_env_names

UNREACHABLE = "http://127.0.0.1:9"
SYNC = [sys.executable, "-m", "sync_pipeline.cli", "sync"]


def cli_env(db_url, api_url: str = UNREACHABLE, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SYNC_DATABASE_URL": db_url.raw, **extra}
    env.update({source_env_names(s)[0]: api_url for s in SOURCES})
    return env


def recorded_runs(db_url) -> int:
    """Runs in the Dagster storage of the test server (0 before it exists)."""
    try:
        with psycopg.connect(dagster_database_url(db_url).conninfo()) as conn:
            return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return 0


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=180, check=False)


def test_a_bad_setting_is_one_line_exit_2_and_records_no_run(db_url):
    before = recorded_runs(db_url)
    done = run([*SYNC, "cars", "--full-refresh"], cli_env(db_url, RPS="abc"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == "sync-pipeline: error: RPS must be a number, got 'abc'"
    assert done.stdout == ""
    assert recorded_runs(db_url) == before


def test_a_bad_partition_names_format_and_range_before_any_upstream_starts(db_url):
    env = {k: v for k, v in cli_env(db_url).items() if not k.endswith("_API_URL")}
    before = recorded_runs(db_url)
    done = run([*SYNC, "cars", "--partition", "2020-13-45"], env)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "'2020-13-45' is not a partition of cars_sync_job" in line
    assert "expected YYYY-MM-DD, from 2026-10-01 to " in line
    assert "reference upstream" not in done.stdout
    assert recorded_runs(db_url) == before


def committed_page(db_url) -> int:
    with psycopg.connect(db_url.conninfo()) as conn:
        row = conn.execute(
            "SELECT page FROM sync_checkpoints WHERE pipeline = 'cars' AND partition = 'full'"
        ).fetchone()
    return (row[0] or 0) if row else 0


def test_ctrl_c_during_sync_is_one_line_with_the_checkpoint_exit_130(upstream_factory, db_url):
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
    env = cli_env(db_url, upstream.url, PAGE_SIZE="50", RPS="5", BATCH_SIZE="50")
    proc = subprocess.Popen(
        [*SYNC, "cars", "--full-refresh"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while committed_page(db_url) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    page = committed_page(db_url)
    assert page >= 3
    expected = (
        f"sync-pipeline: interrupted; checkpoint kept at page {page} of cars (full); "
        "run the same command to resume"
    )
    assert (out + err).strip().splitlines() == [expected]


DOCTOR = [sys.executable, "-m", "sync_pipeline.cli", "doctor"]


def test_doctor_prints_every_setting_and_exits_1_on_a_bad_one(db_url):
    done = run(DOCTOR, cli_env(db_url, DB_POOL_SIZE="abc", SLACK_BOT_TOKEN="xoxb-not-shown"))
    assert done.returncode == 1, done.stdout + done.stderr
    for name in Settings.model_fields:
        assert f"\n  {name.upper()} " in done.stdout
    assert "INVALID: DB_POOL_SIZE must be a whole number, got 'abc'" in done.stdout
    assert "xoxb-not-shown" not in done.stdout + done.stderr


def test_doctor_exits_0_when_everything_answers_and_1_when_an_upstream_does_not(db_url, upstream):
    healthy = run(DOCTOR, cli_env(db_url, upstream.url))
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "NOT reachable" not in healthy.stdout
    unreachable = run(DOCTOR, cli_env(db_url, UNREACHABLE))
    assert unreachable.returncode == 1
    assert "NOT reachable" in unreachable.stdout
