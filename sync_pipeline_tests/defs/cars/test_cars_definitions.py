"""The cars schedules and backfill policy are what the issue says."""

from datetime import UTC, datetime

import dagster as dg

from sync_pipeline.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sync_pipeline.definitions import defs
from sync_pipeline.defs.cars.assets import cars_sync
from sync_pipeline.defs.cars.jobs import cars_hourly_schedule, cars_nightly_full_refresh_schedule
from sync_pipeline.defs.cars.partitions import cars_daily_partitions


def test_three_partitioned_assets_one_run_per_backfill():
    assert {k.to_user_string() for k in cars_sync.keys} == {"cars_snapshot", "cars_changes", "cars"}
    assert cars_sync.partitions_def == cars_daily_partitions
    assert cars_sync.backfill_policy == dg.BackfillPolicy.single_run()
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("cars")).parent_keys == {dg.AssetKey("cars_changes")}
    assert graph.get(dg.AssetKey("cars_changes")).parent_keys == {dg.AssetKey("cars_snapshot")}


def test_schedules_are_off_by_default():
    for schedule in (cars_hourly_schedule, cars_nightly_full_refresh_schedule):
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert cars_hourly_schedule.cron_schedule == "5 * * * *"
    assert cars_nightly_full_refresh_schedule.cron_schedule == "30 2 * * *"


def test_hourly_schedule_syncs_today_and_at_midnight_yesterday_too():
    at = lambda hour: dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 20, hour, 5, tzinfo=UTC)
    )
    midday = list(cars_hourly_schedule(at(13)))
    assert [r.partition_key for r in midday] == ["2026-11-20"]
    midnight = list(cars_hourly_schedule(at(0)))
    assert [r.partition_key for r in midnight] == ["2026-11-20", "2026-11-19"]
    assert len({r.run_key for r in midnight}) == 2


def test_nightly_full_refresh_covers_every_partition_in_one_run():
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 20, 2, 30, tzinfo=UTC)
    )
    request = cars_nightly_full_refresh_schedule(context)
    keys = cars_daily_partitions.get_partition_keys()
    assert request.tags[ASSET_PARTITION_RANGE_START_TAG] == keys[0]
    assert request.tags[ASSET_PARTITION_RANGE_END_TAG] == keys[-1]
    assert request.run_config["ops"]["cars_sync"]["config"]["full_refresh"] is True
