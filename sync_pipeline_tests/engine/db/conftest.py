"""Fixtures of the database-side engine tests: a pool on the test's own database, test tables."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline_tests.engine.db.tables import create_test_tables


@pytest.fixture
def tables(db: psycopg.Connection) -> psycopg.Connection:
    """The test database with the throwaway `items` and `entries` tables; returns `db`."""
    create_test_tables(db)
    return db


@pytest.fixture
def pool(db_url: DatabaseUrl) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=6, name="engine_test") as pool:
        yield pool
