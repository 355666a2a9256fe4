"""The application's connection pool (psycopg 3 + psycopg_pool)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.settings import pool_size


def open_pool(url: DatabaseUrl, max_size: int | None = None, name: str = "sync_pipeline") -> ConnectionPool:
    """An opened pool of up to `max_size` (default `DB_POOL_SIZE`, 20) connections.

    Use it as a context manager or call `close()`; connections are checked before reuse.
    """
    size = max_size or pool_size()
    pool = ConnectionPool(
        url.conninfo(),
        min_size=min(2, size),
        max_size=size,
        name=name,
        open=False,
        check=ConnectionPool.check_connection,
        kwargs={"application_name": name},
    )
    pool.open(wait=True, timeout=10)
    return pool
