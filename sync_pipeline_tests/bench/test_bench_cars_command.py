"""The whole command `bench cars` times keeps its Dagster runs out of the user's run history."""

from __future__ import annotations

import uuid

import psycopg

from sync_pipeline.bench.cars import OursSide
from sync_pipeline.db.connect import dagster_database_url
from sync_pipeline.db.scratch import drop_database
from sync_pipeline.db.urls import DatabaseUrl


def cars_runs(url: DatabaseUrl) -> int | None:
    """The cars runs a Dagster storage holds (None before Dagster created its tables there)."""
    with psycopg.connect(url.conninfo()) as conn:
        if conn.execute("SELECT to_regclass('runs')").fetchone()[0] is None:
            return None
        query = "SELECT count(*) FROM runs WHERE pipeline_name = 'cars_sync_job'"
        return conn.execute(query).fetchone()[0]


def test_the_timed_command_runs_on_a_dagster_storage_of_the_benchmarks_own(
    db_url, pg_server, upstream, tmp_path
):
    users_storage = dagster_database_url(db_url)  # the suite's own stands for the user's here
    before = cars_runs(users_storage)
    own = f"sync_test_bench_dagster_{uuid.uuid4().hex[:10]}"
    side = OursSide(upstream.url, tmp_path, own)
    side.command_url = db_url
    try:
        side.prepare_command_storage()
        assert cars_runs(db_url.with_database(own)) == 0  # the tables, before any timed run
        measured = side.whole_command()
        assert measured.error is None, measured.error
        assert cars_runs(db_url.with_database(own)) == 1
        assert cars_runs(users_storage) == before
    finally:
        drop_database(pg_server, own)
