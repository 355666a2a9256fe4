"""`sync-pipeline sync stores`: every store in one run, `--partition CODE` one, bad usage."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from sync_pipeline_tests.defs.cars.test_cars_resume_and_cli import run_ids_in, sync_cli_env
from sync_pipeline_tests.defs.stores.conftest import SMALL_SIZES, upstream_records

STORES = 20  # one failing store leaves 95%: the success-rate target still holds
FAST = {"STORES_RPS": "500", "SYNC_CONCURRENCY": "4", "VIDEO_SYNC_CONCURRENCY": "4"}


@pytest.fixture
def stores_cli(upstream_factory, db_url, tmp_path):
    server = upstream_factory(sizes={**SMALL_SIZES, "stores": STORES})
    return server, sync_cli_env(db_url, server.url, tmp_path, **FAST)


def sync_stores(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "sync", "stores", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def synced_stores(db_url, run_id: str) -> set[str]:
    with psycopg.connect(db_url.conninfo()) as conn:
        rows = conn.execute(
            "SELECT store_code FROM sync_logs WHERE run_id = %s AND status = 'success' "
            "AND store_code IS NOT NULL",
            (run_id,),
        ).fetchall()
    return {code for (code,) in rows}


def test_sync_stores_every_store_then_one_and_a_bad_code(stores_cli, db_url):
    upstream, env = stores_cli
    codes = sorted(s["code"] for s in upstream_records(upstream, "/stores"))
    upstream.admin("faults", {"source": "stores", "expired_stores": [codes[1]]})

    every = sync_stores(env, "--full-refresh")
    assert every.returncode == 0, every.stdout + every.stderr
    runs = list(dict.fromkeys(run_ids_in(every.stdout)))
    assert len(runs) == 2, "the store list, then every store in one run"
    assert f"result: {STORES - 1} of {STORES} stores" in every.stdout
    assert "check every_store_synced: FAILED (WARN)" in every.stdout
    assert "store_token_expired" in every.stdout
    assert synced_stores(db_url, runs[1]) == set(codes) - {codes[1]}

    one = sync_stores(env, "--partition", codes[2])
    assert one.returncode == 0, one.stdout + one.stderr
    assert "result: 1 of 1 stores" in one.stdout
    assert synced_stores(db_url, run_ids_in(one.stdout)[-1]) == {codes[2]}

    bad = sync_stores(env, "--partition", "NOPE-0000")
    assert bad.returncode == 2 and "expected a live store code" in bad.stderr
