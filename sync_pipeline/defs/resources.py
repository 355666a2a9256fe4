"""Resources shared by every source.

Optional settings (`SYNC_DATABASE_URL`, `DB_POOL_SIZE`) are read from the environment with
`dg.EnvVar(...).get_value()` when the resource is first used, never at import time and never
stored in run config, so secrets do not show up in the launchpad or in event logs.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import dagster as dg
import psycopg
from psycopg_pool import ConnectionPool
from pydantic import Field, PrivateAttr

from sync_pipeline.db.connect import app_database_url
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.settings import pool_size


class PostgresResource(dg.ConfigurableResource):
    """The synced-data PostgreSQL as a pool of psycopg 3 connections.

    The URL is `SYNC_DATABASE_URL`, or the embedded server when that is unset; the pool holds
    up to `DB_POOL_SIZE` (default 20) connections unless `pool_size` is set for the run.
    """

    pool_size: int | None = Field(default=None, description="Overrides DB_POOL_SIZE for this run.")

    _pool: ConnectionPool | None = PrivateAttr(default=None)
    _url: DatabaseUrl | None = PrivateAttr(default=None)

    def url(self) -> DatabaseUrl:
        if self._url is None:
            self._url = app_database_url()
        return self._url

    def pool(self) -> ConnectionPool:
        if self._pool is None:
            self._pool = open_pool(self.url(), max_size=self.pool_size or pool_size())
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; committed on success, rolled back on error."""
        with self.pool().connection() as conn:
            yield conn

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def shared_resources() -> dict[str, dg.ConfigurableResource]:
    return {"postgres": PostgresResource()}
