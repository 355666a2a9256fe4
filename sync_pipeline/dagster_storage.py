"""Dagster's instance storage on the project's PostgreSQL, in its own database `dagster`.

`dagster.yaml` names this class instead of `postgres:` with a fixed URL, so that every way of
starting Dagster from the project root (`sync-pipeline dev`, `dg dev`, `dg check defs`,
`dagster dev`) finds the same server: `SYNC_DATABASE_URL` when set, else the embedded one.
"""

from __future__ import annotations

from typing import Any, Mapping

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage

from sync_pipeline.db.connect import app_database_url, dagster_database_url


class ProjectPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` whose URL is resolved at start-up instead of configured."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> "ProjectPostgresStorage":
        url = dagster_database_url(app_database_url())
        return cls(postgres_url=url.psycopg2_url(), inst_data=inst_data)
