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

from sync_pipeline import registry
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


# Dagster stores a run's asset events in batches of up to this many when the variable is set
# (one INSERT for a step's materializations instead of one transaction each): a full refresh
# of cars covers every daily partition, 3 assets x ~55 partitions, which halves its Dagster
# transactions (1,850 to 870 measured). A value already in the environment wins.
EVENT_BATCH_VARIABLE, EVENT_BATCH_SIZE = "DAGSTER_EVENT_BATCH_SIZE", "1000"


def dagster_environment(app_url: DatabaseUrl) -> dict[str, str]:
    """Variables for Dagster processes: the instance folder, the synced-data database and the
    event batch size.

    Passing the resolved `SYNC_DATABASE_URL` on means child processes (webserver, daemon, run
    workers) attach to the same server instead of resolving the embedded one themselves.
    """
    return {
        "DAGSTER_HOME": str(dagster_home()),
        "SYNC_DATABASE_URL": app_url.raw,
        EVENT_BATCH_VARIABLE: os.environ.get(EVENT_BATCH_VARIABLE) or EVENT_BATCH_SIZE,
    }


def persistent_instance(app_url: DatabaseUrl) -> dg.DagsterInstance:
    """The PostgreSQL-backed instance (close it, or use `with`), so CLI runs show up in the UI."""
    os.environ.update(dagster_environment(app_url))
    return dg.DagsterInstance.get()


def apply_pool_limits(instance: dg.DagsterInstance) -> dict[str, int]:
    """Set every registered source's pool limit on the instance; returns the ones changed.

    `concurrency: pools:` in `dagster.yaml` holds the granularity and the default limit, not a
    limit per pool: those live in the instance's storage. `migrate`, `dev` and `sync` call this,
    so a backfill or a Materialize click finds its source's pool limited before it starts. A limit
    still taken from the default is set explicitly, so that it no longer follows the default.
    """
    storage = instance.event_log_storage
    current = {pool.name: pool for pool in storage.get_pool_limits()}
    changed = {}
    for name, limit in registry.pool_limits().items():
        found = current.get(name)
        if found is None or found.limit != limit or found.from_default:
            storage.set_concurrency_slots(name, limit)
            changed[name] = limit
    return changed
