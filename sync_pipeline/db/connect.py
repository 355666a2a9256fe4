"""Resolve the application database, create it if needed, and check that it answers."""

from __future__ import annotations

import psycopg
from psycopg import sql

from sync_pipeline.db.embedded import APP_DATABASE, embedded_server_url
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.errors import DatabaseUnreachable
from sync_pipeline.settings import database_url_from_env, settings

CONNECT_TIMEOUT_S = 5


def app_database_url() -> DatabaseUrl:
    """`SYNC_DATABASE_URL` when set, else the embedded server (started on demand)."""
    raw = database_url_from_env()
    url = DatabaseUrl.parse(raw) if raw else embedded_server_url(APP_DATABASE)
    ensure_database_exists(url)
    return url


def dagster_database_name() -> str:
    """The database of Dagster's own storage: `SYNC_DAGSTER_DATABASE`, default `dagster`."""
    return settings().sync_dagster_database


def dagster_database_url(app_url: DatabaseUrl) -> DatabaseUrl:
    """Dagster's own storage, on the same server as the synced data (created if missing)."""
    url = app_url.with_database(dagster_database_name())
    ensure_database_exists(url)
    return url


def connect(url: DatabaseUrl, **kwargs) -> psycopg.Connection:
    """Open one connection, turning connection failures into a clear `DatabaseUnreachable`."""
    try:
        return psycopg.connect(url.conninfo(), connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnreachable(
            f"cannot connect to PostgreSQL at {url.describe()}: {_first_line(exc)}. "
            "Check that the server runs and SYNC_DATABASE_URL is right, "
            "or unset SYNC_DATABASE_URL to use the embedded PostgreSQL."
        ) from None


def ensure_database_exists(url: DatabaseUrl) -> None:
    """Create the database named in `url` if it is missing (server-level, not a migration)."""
    try:
        with psycopg.connect(url.conninfo(), connect_timeout=CONNECT_TIMEOUT_S):
            return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            connect(url).close()
    with connect(url.with_database("postgres"), autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # created meanwhile by another process (two workers starting at once)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().removeprefix("connection failed:").strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
