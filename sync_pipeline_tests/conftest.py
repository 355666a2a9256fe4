"""Shared fixtures: a real PostgreSQL and the real reference upstream over loopback HTTP.

PostgreSQL is `SYNC_TEST_DATABASE_URL` when set, else the embedded server. The session migrates
one template database; each test that asks for `db_url` gets its own copy (CREATE DATABASE ...
TEMPLATE), so tests can run in any order and leave nothing behind.
"""

from __future__ import annotations

import os
from typing import Iterator

import psycopg
import pytest

from sync_pipeline.db.embedded import embedded_server_url
from sync_pipeline.db.migrations import migrate
from sync_pipeline.db.scratch import create_database, drop_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.upstream.process import UpstreamProcess

TEST_UPSTREAM_SIZES = {"cars": 5000, "users": 2000, "stores": 12, "leaderboard_entries": 500,
                       "contacts": 2000, "workspaces": 3}


@pytest.fixture(scope="session")
def pg_server() -> DatabaseUrl:
    """Any database on the test server; use it to reach the server, not to store data."""
    raw = os.environ.get("SYNC_TEST_DATABASE_URL")
    return DatabaseUrl.parse(raw) if raw else embedded_server_url("postgres")


@pytest.fixture(scope="session")
def template_db(pg_server: DatabaseUrl) -> Iterator[str]:
    url = create_database(pg_server, "sync_test_template")
    migrate(url)
    yield url.database
    drop_database(pg_server, url.database)


@pytest.fixture
def empty_db_url(pg_server: DatabaseUrl) -> Iterator[DatabaseUrl]:
    """A fresh database with no migrations applied."""
    url = create_database(pg_server, "sync_test_empty")
    yield url
    drop_database(pg_server, url.database)


@pytest.fixture
def db_url(pg_server: DatabaseUrl, template_db: str) -> Iterator[DatabaseUrl]:
    """A fresh, fully migrated database of this test's own."""
    url = create_database(pg_server, "sync_test", template=template_db)
    yield url
    drop_database(pg_server, url.database)


@pytest.fixture
def db(db_url: DatabaseUrl) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this test's database."""
    with psycopg.connect(db_url.conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def upstream() -> Iterator[UpstreamProcess]:
    """The reference upstream, profile `none`, small deterministic data (seed 1), no token.

    Shared by the session: a test that changes faults or data must put them back
    (or use `upstream_factory` for a server of its own).
    """
    with UpstreamProcess(profile="none", seed=1, sizes=TEST_UPSTREAM_SIZES) as server:
        yield server


@pytest.fixture
def upstream_factory() -> Iterator:
    """Start extra reference upstreams (own profile, token, sizes); all stopped after the test."""
    started: list[UpstreamProcess] = []

    def start(**kwargs) -> UpstreamProcess:
        kwargs.setdefault("sizes", TEST_UPSTREAM_SIZES)
        server = UpstreamProcess(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
