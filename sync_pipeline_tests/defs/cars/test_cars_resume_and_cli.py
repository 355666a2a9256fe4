"""A cars run killed mid-way resumes from its checkpoint; the `sync` command's exit codes."""

import os
import signal
import subprocess
import sys
import time

import psycopg

from sync_pipeline.settings import SOURCES, source_env_names
from sync_pipeline_tests.defs.cars.conftest import materialization_metadata, run_cars
from sync_pipeline_tests.defs.cars.upstream_compare import stored_cars, upstream_cars


def sync_cli_env(db_url, upstream_url, tmp_path, **extra) -> dict[str, str]:
    env = {**os.environ, "SYNC_DATABASE_URL": db_url.raw, "SYNC_PIPELINE_HOME": str(tmp_path), **extra}
    env.update({source_env_names(s)[0]: upstream_url for s in SOURCES})
    return env


def committed_page(db_url) -> int:
    with psycopg.connect(db_url.conninfo()) as conn:
        row = conn.execute("SELECT page FROM sync_checkpoints WHERE pipeline = 'cars' AND partition = 'full'").fetchone()
    return (row[0] or 0) if row else 0


def test_killed_full_refresh_resumes_without_gaps_or_duplicates(cars_env, db_url, instance, tmp_path):
    env = sync_cli_env(db_url, cars_env.url, tmp_path, PAGE_SIZE="50", RPS="10", BATCH_SIZE="50")
    proc = subprocess.Popen([sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def test_sync_command_exit_codes_and_summary(cars_env, db_url, tmp_path):
    env = sync_cli_env(db_url, cars_env.url, tmp_path, RPS="500", PAGE_SIZE="500")
    ok = subprocess.run([sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"], env=env,
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "succeeded" in ok.stdout and "check reconciliation: passed" in ok.stdout
    assert "| inserted |" in ok.stdout

    bad_partition = subprocess.run([sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--partition", "1999-01-01"],
                                   env=env, capture_output=True, text=True, timeout=300)
    assert bad_partition.returncode == 2
    assert "not a partition" in bad_partition.stderr

    env["SYNC_CARS_API_TOKEN"] = "wrong-token-value"
    with_token = cars_env.url
    assert with_token
    denied = subprocess.run([sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert denied.returncode in (0, 1)
