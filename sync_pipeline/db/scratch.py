"""Throwaway databases on the application's server, for benchmarks and tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from sync_pipeline.db.connect import app_database_url
from sync_pipeline.db.migrations import migrate
from sync_pipeline.db.urls import DatabaseUrl


def create_database(server: DatabaseUrl, prefix: str, template: str | None = None) -> DatabaseUrl:
    """A new database `<prefix>_<random>` on `server` (copied from `template` when given)."""
    url = server.with_database(f"{prefix}_{uuid.uuid4().hex[:10]}")
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database))
    if template:
        query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
    with psycopg.connect(server.with_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(query)
    return url


def drop_database(server: DatabaseUrl, name: str) -> None:
    with psycopg.connect(server.with_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def scratch_database(prefix: str) -> Iterator[DatabaseUrl]:
    """A fresh, migrated database on the application's server, dropped afterwards."""
    server = app_database_url()
    url = create_database(server, prefix)
    try:
        migrate(url)
        yield url
    finally:
        drop_database(server, url.database)


@contextmanager
def scratch_dagster_database(prefix: str = "sync_bench_dagster") -> Iterator[str]:
    """The name of a database for a Dagster storage of its own, on the application's server,
    dropped afterwards. A process given it as `SYNC_DAGSTER_DATABASE` creates it and Dagster's
    tables on first use, and its runs stay out of the user's run history."""
    server = app_database_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        drop_database(server, name)
