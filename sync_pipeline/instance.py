"""The Dagster instance this project runs on.

`dagster.yaml` at the project root stores runs, events and schedules in PostgreSQL (database
`dagster`, see `dagster_storage.py`). `sync-pipeline dev` and `sync` use DAGSTER_HOME =
`.sync_pipeline/dagster_home`, a folder holding a link to that file plus Dagster's local
artifacts, so nothing is written into the source tree.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.settings import project_root, state_dir


def dagster_home() -> Path:
    home = state_dir() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    target = project_root() / "dagster.yaml"
    if not link.is_symlink() or link.resolve() != target.resolve():
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    return home


def dagster_environment(app_url: DatabaseUrl) -> dict[str, str]:
    """Variables for Dagster processes: the instance folder and the synced-data database.

    Passing the resolved `SYNC_DATABASE_URL` on means child processes (webserver, daemon, run
    workers) attach to the same server instead of resolving the embedded one themselves.
    """
    return {"DAGSTER_HOME": str(dagster_home()), "SYNC_DATABASE_URL": app_url.raw}


def persistent_instance(app_url: DatabaseUrl) -> dg.DagsterInstance:
    """The PostgreSQL-backed instance (close it, or use `with`), so CLI runs show up in the UI."""
    os.environ.update(dagster_environment(app_url))
    return dg.DagsterInstance.get()
