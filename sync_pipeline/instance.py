"""The Dagster instance this project runs on: storage in PostgreSQL, database `dagster`.

`dagster.yaml` (at the project root, which is DAGSTER_HOME) reads its settings from the
environment; `dagster_environment` fills them in for child processes and in-process runs.
"""

from __future__ import annotations

import os

import dagster as dg

from sync_pipeline.db.connect import dagster_database_url
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.settings import project_root, state_dir


def dagster_environment(app_url: DatabaseUrl) -> dict[str, str]:
    """Variables that `dagster.yaml` and the code location need, for `app_url`'s server."""
    artifacts = state_dir() / "dagster"
    (artifacts / "compute_logs").mkdir(parents=True, exist_ok=True)
    return {
        "DAGSTER_HOME": str(project_root()),
        "DAGSTER_PG_URL": dagster_database_url(app_url).psycopg2_url(),
        "DAGSTER_ARTIFACTS_DIR": str(artifacts),
        "DAGSTER_COMPUTE_LOGS_DIR": str(artifacts / "compute_logs"),
        "SYNC_DATABASE_URL": app_url.raw,
    }


def persistent_instance(app_url: DatabaseUrl) -> dg.DagsterInstance:
    """The PostgreSQL-backed instance, so CLI runs show up in the UI's run history."""
    os.environ.update(dagster_environment(app_url))
    return dg.DagsterInstance.get()
