"""The pvp assets through Dagster: every region x bracket partition materializes, with its
checks and metadata (statements of both steps bounded), and the CLI's partition keys resolve."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from sync_pipeline import registry
from sync_pipeline.definitions import defs
from sync_pipeline.defs.pvp.jobs import PVP_SOURCE_SYNC, pvp_hourly_schedule
from sync_pipeline.defs.pvp.partitions import board_for_key, pvp_partitions
from sync_pipeline.errors import ConfigError
from sync_pipeline.instance import apply_pool_limits
from sync_pipeline.pipelines.pvp.leaderboard import Board
from sync_pipeline.pipelines.pvp.settings import DEFAULT_SYNC_THREADS
from sync_pipeline_tests.run_results import check_results, materialization_metadata

SIZES = {
    "cars": 10,
    "users": 10,
    "stores": 1,
    "leaderboard_entries": 12,
    "contacts": 10,
    "workspaces": 1,
}


@pytest.fixture
def pvp_env(monkeypatch, db_url, upstream_factory):
    server = upstream_factory(sizes=SIZES)
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    monkeypatch.setenv("SYNC_PVP_API_URL", server.url)
    monkeypatch.delenv("SYNC_PVP_API_TOKEN", raising=False)
    monkeypatch.setenv("PVP_RPS", "2000")
    monkeypatch.setenv("PVP_PROCESSING_THREADS", "8")
    return server


def test_every_region_and_bracket_partition_materializes(pvp_env, db):
    job = defs.resolve_job_def("pvp_sync_job")
    keys = pvp_partitions.get_partition_keys()
    assert len(keys) == 16
    with dg.DagsterInstance.ephemeral() as instance:
        for key in keys:
            result = job.execute_in_process(
                instance=instance, partition_key=key, raise_on_error=False
            )
            assert result.success, key
            checks = check_results(result)
            assert set(checks) == {
                "statements_within_budget",
                "ranks_unique_and_contiguous",
                "entries_have_characters",
                "equipment_coverage",
            }
            assert all(c.passed for c in checks.values()), (key, checks)
            leaderboard = materialization_metadata(result, "pvp_leaderboard")
            equipment = materialization_metadata(result, "pvp_equipment")
            assert leaderboard["statements"] <= 3
            # plan, claim, at most 3 per write batch, one look for other boards' calls, finish
            assert equipment["statements"] <= 4 + 3 * equipment["write_batches"]
            outcomes = (
                "fetched",
                "reused",
                "skipped",
                "became_private",
                "became_not_found",
                "failed_calls",
            )
            assert sum(equipment[name] for name in outcomes) == equipment["entries"] == 12
        materialized = instance.get_materialized_partitions(dg.AssetKey("pvp_equipment"))
    assert materialized == set(keys)
    boards = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE equipment_processed_at IS NOT NULL) "
        "FROM pvp_leaderboards"
    ).fetchone()
    assert boards == (16, 16)


def test_a_second_run_of_a_partition_changes_nothing(pvp_env, db):
    job = defs.resolve_job_def("pvp_sync_job")
    with dg.DagsterInstance.ephemeral() as instance:
        job.execute_in_process(instance=instance, partition_key="3v3|eu")
        again = job.execute_in_process(instance=instance, partition_key="3v3|eu")
    leaderboard = materialization_metadata(again, "pvp_leaderboard")
    equipment = materialization_metadata(again, "pvp_equipment")
    assert leaderboard["stored_now"] is False and leaderboard["statements"] == 1
    assert equipment["fetched"] == 0 and equipment["requests"] == 0
    assert db.execute("SELECT count(*) FROM pvp_leaderboards").fetchone()[0] == 1


def test_partition_keys_accept_region_first_or_bracket_first():
    assert board_for_key("eu|3v3") == board_for_key("3v3|eu") == Board("eu", "3v3")
    assert PVP_SOURCE_SYNC.resolve_partition("eu|3v3") == "3v3|eu"
    assert len(PVP_SOURCE_SYNC.default_partitions()) == 16
    with pytest.raises(ConfigError, match="region|bracket"):
        board_for_key("eu|5v5")


def test_the_hourly_schedule_asks_for_every_board_once_an_hour():
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 24, 12, 20, tzinfo=UTC)
    )
    requests = list(pvp_hourly_schedule(context))
    assert sorted(r.partition_key for r in requests) == sorted(pvp_partitions.get_partition_keys())
    assert len({r.run_key for r in requests}) == 16


def test_pvp_sync_threads_is_the_pvp_pool_limit(monkeypatch):
    monkeypatch.delenv("PVP_SYNC_THREADS", raising=False)
    assert registry.pool_limits()["pvp_api"] == DEFAULT_SYNC_THREADS
    monkeypatch.setenv("PVP_SYNC_THREADS", "6")
    assert registry.pool_limits()["pvp_api"] == 6
    with dg.DagsterInstance.ephemeral() as instance:
        assert apply_pool_limits(instance)["pvp_api"] == 6
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
    assert limits["pvp_api"] == 6 and limits["cars_api"] == registry.source("cars").pool_limit
    monkeypatch.setenv("PVP_SYNC_THREADS", "0")
    with pytest.raises(ConfigError, match="PVP_SYNC_THREADS"):
        registry.pool_limits()
