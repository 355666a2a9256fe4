"""`sync-pipeline demo`: the project's main job end to end, on the embedded parts.

1. migrate and check the database, load the Dagster definitions;
2. full refresh of the cars catalogue (200k cars; `--quick`: 20k) through Dagster;
3. on the embedded upstream: update 1% of the cars and touch 5% (volatile fields only);
4. an incremental run of today's partition, printing exactly what changed.
Runs go to the PostgreSQL-backed Dagster instance, so `sync-pipeline dev` shows them afterwards.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import dagster as dg

from sync_pipeline.db.connect import app_database_url, connect
from sync_pipeline.db.migrations import migrate
from sync_pipeline.defs.cars.jobs import CARS_SOURCE_SYNC
from sync_pipeline.instance import persistent_instance
from sync_pipeline.settings import pool_size
from sync_pipeline.sources import execute_source_run, failed_blocking_checks, print_summary
from sync_pipeline.upstream.process import start_for_unset_sources

DEMO_PAGE_SIZE = 1000
QUICK_SIZES = {"cars": 20_000, "users": 2_000, "stores": 20, "leaderboard_entries": 500, "contacts": 2_000,
               "workspaces": 2}


def run_demo(quick: bool = False) -> int:
    pool_size()
    url = app_database_url()
    applied = migrate(url)
    with connect(url) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    print(f"database: {url.masked()} (PostgreSQL {server}), {len(applied)} migration(s) applied now")
    from sync_pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    print(f"definitions: {len(repo.asset_graph.get_all_asset_keys())} assets, {len(repo.sensor_defs)} sensors, "
          f"{len(repo.schedule_defs)} schedules, {len(repo.job_names)} jobs")

    with ExitStack() as stack:
        upstream = start_for_unset_sources(stack, os.environ, sizes=QUICK_SIZES if quick else None)
        instance = stack.enter_context(persistent_instance(url))
        return _cars_demo(instance, upstream)


def _cars_demo(instance: dg.DagsterInstance, upstream) -> int:
    config = {"page_size": DEMO_PAGE_SIZE}
    print("\n== 1. cars: full refresh ==")
    full = execute_source_run(CARS_SOURCE_SYNC, instance, full_refresh=True, partition=None, op_config=config)
    print_summary(full, CARS_SOURCE_SYNC)
    if not full.success or failed_blocking_checks(full):
        return 1
    if upstream is None:
        print("\nSYNC_CARS_API_URL points at a real API: skipping the mutation step of the demo.")
        return 0
    mutation = upstream.admin("mutate", {"source": "cars", "update": 0.01, "touch": 0.05})
    print(f"\n== 2. upstream changed: {len(mutation['updated']):,} cars updated, "
          f"{len(mutation['touched']):,} touched (volatile fields only) ==")
    print("\n== 3. cars: incremental run of today's partition ==")
    incremental = execute_source_run(CARS_SOURCE_SYNC, instance, full_refresh=False, partition=None, op_config=config)
    print_summary(incremental, CARS_SOURCE_SYNC)
    written = _written_ids(incremental)
    print(f"\nexpected {len(mutation['updated']):,} updated, touched ones ignored: "
          f"{'yes' if written == set(mutation['updated']) else 'NO'}")
    return 0 if incremental.success and not failed_blocking_checks(incremental) else 1


def _written_ids(result: dg.ExecuteInProcessResult) -> set[int]:
    from sync_pipeline.pipelines.cars import PIPELINE

    url = app_database_url()
    with connect(url) as conn:
        rows = conn.execute("SELECT DISTINCT record_key FROM sync_change_log WHERE run_id = %s AND entity = %s",
                            (result.run_id, PIPELINE)).fetchall()
    return {int(key) for (key,) in rows}
