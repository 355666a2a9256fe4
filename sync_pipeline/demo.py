"""`sync-pipeline demo`: the project's main job, end to end, on the embedded parts."""

from __future__ import annotations

import dagster as dg

from sync_pipeline.db.connect import app_database_url, connect
from sync_pipeline.db.migrations import migrate


def run_demo(quick: bool = False) -> int:
    url = app_database_url()
    applied = migrate(url)
    with connect(url) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    print(f"database: {url.masked()} (PostgreSQL {server}), {len(applied)} migration(s) applied now")

    from sync_pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    print(f"definitions: {len(repo.asset_graph.get_all_asset_keys())} assets, "
          f"{len(repo.sensor_defs)} sensors, {len(repo.schedule_defs)} schedules, {len(repo.job_names)} jobs")
    return 0
