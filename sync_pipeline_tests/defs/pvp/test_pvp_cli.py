"""`sync-pipeline sync pvp`: one board with `--partition`, every board without, bad usage."""

from __future__ import annotations

import re
import subprocess
import sys

import psycopg
import pytest

from sync_pipeline_tests.defs.cars.test_cars_resume_and_cli import run_ids_in, sync_cli_env

SIZES = {
    "cars": 10,
    "users": 10,
    "stores": 1,
    "leaderboard_entries": 12,
    "contacts": 10,
    "workspaces": 1,
}
FAST = {"PVP_RPS": "2000", "PVP_PROCESSING_THREADS": "8"}


@pytest.fixture
def pvp_cli_env(upstream_factory, db_url, tmp_path) -> dict[str, str]:
    server = upstream_factory(sizes=SIZES)
    return sync_cli_env(db_url, server.url, tmp_path, **FAST)


def sync_pvp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "sync", "pvp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stored_boards(db_url) -> list[tuple[str, str]]:
    with psycopg.connect(db_url.conninfo()) as conn:
        return conn.execute("SELECT region, bracket FROM pvp_leaderboards ORDER BY 1, 2").fetchall()


def test_sync_pvp_one_board_then_every_board(pvp_cli_env, db_url):
    one = sync_pvp(pvp_cli_env, "--partition", "eu|3v3")
    assert one.returncode == 0, one.stdout + one.stderr
    assert len(run_ids_in(one.stdout)) == 1 and "pvp eu|3v3 equipment of 12 entries" in one.stdout
    assert "check ranks_unique_and_contiguous: passed" in one.stdout
    assert stored_boards(db_url) == [("eu", "3v3")]

    every = sync_pvp(pvp_cli_env)
    assert every.returncode == 0, every.stdout + every.stderr
    assert len(run_ids_in(every.stdout)) == 16
    assert len(re.findall(r": succeeded\n", every.stdout)) == 16
    assert len(stored_boards(db_url)) == 16


def test_sync_pvp_refuses_a_bad_partition_and_a_full_refresh(pvp_cli_env, db_url):
    bad = sync_pvp(pvp_cli_env, "--partition", "eu|5v5")
    assert bad.returncode == 2 and "not a pvp partition" in bad.stderr
    refresh = sync_pvp(pvp_cli_env, "--full-refresh")
    assert refresh.returncode == 2 and "no full refresh" in refresh.stderr
    assert stored_boards(db_url) == []
