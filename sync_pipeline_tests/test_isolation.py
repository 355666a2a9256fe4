"""The suite leaves the user's instance alone: its own home, server and Dagster storage."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import psycopg

from sync_pipeline.db.connect import dagster_database_name
from sync_pipeline.db.embedded import data_dir
from sync_pipeline.instance import dagster_home
from sync_pipeline.settings import project_root, state_dir

USER_HOME = project_root() / ".sync_pipeline"


def test_the_suite_has_a_home_of_its_own(pg_server):
    home = state_dir()
    assert not home.resolve().is_relative_to(project_root().resolve())
    assert data_dir().is_relative_to(home)
    assert dagster_home().is_relative_to(home)
    assert Path(os.environ["DAGSTER_HOME"]).is_relative_to(home)
    # The user's URL was dropped at start, and no earlier test's in-process instance leaks one.
    assert "SYNC_DATABASE_URL" not in os.environ
    # Dagster's storage is the session's own database, even on a test server of the user's.
    assert dagster_database_name().startswith("sync_test_dagster_")


def test_the_test_server_runs_from_the_suite_home(pg_server):
    with psycopg.connect(pg_server.conninfo()) as conn:
        served_from = conn.execute("SHOW data_directory").fetchone()[0]
    if not os.environ.get("SYNC_TEST_DATABASE_URL"):
        assert Path(served_from).resolve() == data_dir().resolve()
        assert not Path(served_from).resolve().is_relative_to(USER_HOME.resolve())


def test_cli_subprocesses_inherit_the_suite_home(db_url):
    env = {**os.environ, "SYNC_DATABASE_URL": db_url.raw}
    done = subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "doctor", "--env"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"export DAGSTER_HOME={shlex.quote(str(state_dir() / 'dagster_home'))}" in done.stdout
    assert str(USER_HOME) not in done.stdout
