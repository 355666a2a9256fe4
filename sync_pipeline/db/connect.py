"""Resolve the application database, create it if needed, and check that it answers."""

from __future__ import annotations

import psycopg
from psycopg import sql

from sync_pipeline.db.embedded import APP_DATABASE, embedded_server_url
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.errors import DatabaseUnreachable
from sync_pipeline.settings import database_url_from_env

DAGSTER_DATABASE = "dagster"
CONNECT_TIMEOUT_S = 5


def app_database_url() -> DatabaseUrl:
    """`SYNC_DATABASE_URL` when set, else the embedded server (started on demand)."""
    raw = database_url_from_env()
    url = DatabaseUrl.parse(raw) if raw else embedded_server_url(APP_DATABASE)
    ensure_database_exists(url)
    return url


def dagster_database_url(app_url: DatabaseUrl) -> DatabaseUrl:
    """Dagster's own storage: database `dagster` on the same server as the synced data."""
    url = app_url.with_database(DAGSTER_DATABASE)
    ensure_database_exists(url)
    return url


def connect(url: DatabaseUrl, **kwargs) -> psycopg.Connection:
    """Open one connection, turning connection failures into a clear `DatabaseUnreachable`."""
    try:
        return psycopg.connect(url.conninfo(), connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at {url.describe()}: {reason}. "
            "Check that the server runs and SYNC_DATABASE_URL is right, "
            "or unset SYNC_DATABASE_URL to use the embedded PostgreSQL."
        ) from None


def ensure_database_exists(url: DatabaseUrl) -> None:
    """Create the database named in `url` if it is missing (server-level, not a migration)."""
    name = url.database
    with connect(url.with_database("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            pass
