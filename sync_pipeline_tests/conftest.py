"""Shared fixtures: a real PostgreSQL and the real reference upstream over loopback HTTP.

PostgreSQL is `SYNC_TEST_DATABASE_URL` when set, else an embedded server of the suite's own. The
session migrates one template database; each test that asks for `db_url` gets its own copy
(CREATE DATABASE ... TEMPLATE), so tests can run in any order and leave nothing behind.

The suite never touches the user's instance: before any test runs, `SYNC_PIPELINE_HOME` and
`DAGSTER_HOME` point at a temporary folder (its own embedded server), Dagster's storage is a
database of the session's own (`SYNC_DAGSTER_DATABASE`, so that a `SYNC_TEST_DATABASE_URL` server
shared with the user's `dagster` database keeps it clean), the user's `SYNC_DATABASE_URL` and API
URLs are dropped from the environment (CLI subprocesses inherit all of this), and the folder and
that database are removed when the session ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sync_pipeline.db.embedded import embedded_server_url, stop_embedded_server
from sync_pipeline.db.migrations import migrate
from sync_pipeline.db.scratch import create_database, drop_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.settings import SOURCES, source_env_names
from sync_pipeline.upstream.process import UpstreamProcess

TEST_UPSTREAM_SIZES = {
    "cars": 5000,
    "users": 2000,
    "stores": 12,
    "leaderboard_entries": 500,
    "contacts": 2000,
    "workspaces": 3,
}

_SUITE_HOME_PREFIX = "sync_pipeline_tests_"
_SUITE_DAGSTER_PREFIX = "sync_test_dagster_"

pytest_plugins = ["sync_pipeline_tests.reliability.plugin", "sync_pipeline_tests.secret_scan"]


def pytest_configure(config: pytest.Config) -> None:
    """Give the session a home of its own before any test (or CLI subprocess) can resolve one."""
    home = Path(tempfile.mkdtemp(prefix=_SUITE_HOME_PREFIX))
    os.environ["SYNC_PIPELINE_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    os.environ["SYNC_DAGSTER_DATABASE"] = f"{_SUITE_DAGSTER_PREFIX}{uuid.uuid4().hex[:10]}"
    os.environ.pop("SYNC_DATABASE_URL", None)
    for source in SOURCES:
        for name in source_env_names(source):
            os.environ.pop(name, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the session's Dagster database from a test server of the user's, stop the suite's
    embedded server and remove its home."""
    home = Path(os.environ.get("SYNC_PIPELINE_HOME", ""))
    dagster_database = os.environ.get("SYNC_DAGSTER_DATABASE", "")
    test_server = os.environ.get("SYNC_TEST_DATABASE_URL")
    if test_server and dagster_database.startswith(_SUITE_DAGSTER_PREFIX):
        from sync_pipeline_tests.secret_scan import with_suite_password

        drop_database(with_suite_password(DatabaseUrl.parse(test_server)), dagster_database)
    stop_embedded_server()
    if home.name.startswith(_SUITE_HOME_PREFIX):
        shutil.rmtree(home, ignore_errors=True)


# What `persistent_instance` exports for its run workers; restored after every test so that one
# test's in-process instance never points a later test's CLI subprocess at its database.
_INSTANCE_VARIABLES = ("SYNC_DATABASE_URL", "DAGSTER_HOME", "DAGSTER_EVENT_BATCH_SIZE")


@pytest.fixture(autouse=True)
def _restore_instance_variables() -> Iterator[None]:
    before = {name: os.environ.get(name) for name in _INSTANCE_VARIABLES}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _restore_termination_signal() -> Iterator[None]:
    """Put SIGTERM's disposition back after every test. A Dagster run in this process leaves it
    set to SIGINT's (`capture_interrupts`), which a pytest-xdist worker ignores: every process
    a later test spawned then ignored SIGTERM too, and a multiprocessing pool's `terminate()`
    waited for its workers for ever."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


@pytest.fixture(scope="session")
def pg_server() -> DatabaseUrl:
    """Any database on the test server; use it to reach the server, not to store data."""
    from sync_pipeline_tests.secret_scan import with_suite_password  # a plugin: imported by pytest

    raw = os.environ.get("SYNC_TEST_DATABASE_URL")
    return with_suite_password(DatabaseUrl.parse(raw) if raw else embedded_server_url("postgres"))


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
