"""The CLI as a user runs it: a subprocess, its exit code and what it prints."""

import os
import subprocess
import sys

import pytest

from sync_pipeline.settings import SOURCES, source_env_names
from sync_pipeline_tests.secret_scan import TEST_TOKENS


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_unreachable_database_is_one_clear_line_exit_2():
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/warehouse"
    result = run_cli("migrate", env={"SYNC_DATABASE_URL": url})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "127.0.0.1:1/warehouse" in lines[0]
    assert "SYNC_DATABASE_URL" in lines[0]
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url", ["mysql://u:pw-xyz@localhost/db", "not a url at all", "postgresql://u:pw-xyz@localhost"]
)
def test_bad_database_url_exit_2_without_password(url):
    result = run_cli("doctor", env={"SYNC_DATABASE_URL": url})
    assert result.returncode in (1, 2)
    result = run_cli("migrate", env={"SYNC_DATABASE_URL": url})
    assert result.returncode == 2
    assert "pw-xyz" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert "SYNC_DATABASE_URL" in result.stderr


def test_bad_usage_exit_2():
    assert run_cli("no-such-command").returncode == 2
    assert run_cli("sync", "not-a-source").returncode == 2
    assert run_cli("bench", "not-a-benchmark").returncode == 2


def test_bad_pool_size_is_a_config_error_before_anything_runs(db_url):
    result = run_cli(
        "sync",
        "cars",
        "--full-refresh",
        env={"SYNC_DATABASE_URL": db_url.raw, "DB_POOL_SIZE": "lots"},
    )
    assert result.returncode == 2
    assert "DB_POOL_SIZE must be a whole number, got 'lots'" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_then_doctor_on_a_configured_database(empty_db_url):
    env = {"SYNC_DATABASE_URL": empty_db_url.raw}
    migrated = run_cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 00" in migrated.stdout
    again = run_cli("migrate", env=env)
    assert "(0 migration(s) applied now)" in again.stdout

    env.update({source_env_names(s)[0]: "http://127.0.0.1:9" for s in SOURCES})
    env["SYNC_CARS_API_TOKEN"] = TEST_TOKENS["cli"]
    doctor = run_cli("doctor", env=env)
    assert doctor.returncode == 1, doctor.stdout + doctor.stderr
    assert "PostgreSQL" in doctor.stdout and "applied" in doctor.stdout
    assert "NOT reachable" in doctor.stdout
    assert "token set" in doctor.stdout
    assert TEST_TOKENS["cli"] not in doctor.stdout


def test_doctor_masks_the_password(empty_db_url):
    with_password = empty_db_url.raw.replace("postgres:@", "postgres:hunter2@")
    result = run_cli("doctor", env={"SYNC_DATABASE_URL": with_password})
    assert "hunter2" not in result.stdout + result.stderr
