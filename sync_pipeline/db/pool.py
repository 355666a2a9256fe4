"""The application's connection pool (psycopg 3 + psycopg_pool)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.settings import pool_size

IDLE_IN_TRANSACTION_S = 300.0


def open_pool(
    url: DatabaseUrl,
    max_size: int | None = None,
    name: str = "sync_pipeline",
    idle_in_transaction_s: float = IDLE_IN_TRANSACTION_S,
) -> ConnectionPool:
    """An opened pool of up to `max_size` (default `DB_POOL_SIZE`, 20) connections.

    A connection left idle inside a transaction for `idle_in_transaction_s` is closed by the
    server, which rolls the transaction back and frees its row locks: a writer stuck in Python
    (waiting for something that never comes) cannot hold other writers up for ever.
    Use it as a context manager or call `close()`; connections are checked before reuse.
    """
    size = max_size or pool_size()
    idle_ms = round(idle_in_transaction_s * 1000)
    pool = ConnectionPool(
        url.conninfo(),
        min_size=min(2, size),
        max_size=size,
        name=name,
        open=False,
        check=ConnectionPool.check_connection,
        kwargs={
            "application_name": name,
            "options": f"-c idle_in_transaction_session_timeout={idle_ms}",
        },
    )
    pool.open(wait=True, timeout=10)
    return pool
