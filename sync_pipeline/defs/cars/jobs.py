"""The cars job, and the schedules that run it (both off by default).

- hourly: today's partition (at 00:05 also yesterday's, for changes of its last hour);
- nightly: the full refresh, one run over every partition, the only run that may delist.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.cars.assets import cars_sync
from sync_pipeline.defs.cars.partitions import cars_daily_partitions
from sync_pipeline.defs.source_sync import SourceSync

cars_sync_job = dg.define_asset_job(
    "cars_sync_job",
    selection=dg.AssetSelection.assets(cars_sync),
    partitions_def=cars_daily_partitions,
    tags=registry.source("cars").job_tags,
    description="Sync cars for a partition (updated_at day), a range, or a full refresh.",
)

FULL_REFRESH_RUN_CONFIG = {"ops": {"cars_sync": {"config": {"full_refresh": True}}}}

CARS_SOURCE_SYNC = SourceSync(
    source="cars",
    job_name="cars_sync_job",
    op_name="cars_sync",
    partitions=cars_daily_partitions,
    upstream="cars",
    summary_asset="cars",
)


@dg.schedule(
    job=cars_sync_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly incremental sync of today's updated_at window (and yesterday's at 00:05).",
)
def cars_hourly_schedule(context: dg.ScheduleEvaluationContext):
    now = context.scheduled_execution_time
    days = [now] + ([now - timedelta(days=1)] if now.hour == 0 else [])
    for day in days:
        key = day.strftime("%Y-%m-%d")
        yield dg.RunRequest(run_key=f"cars-hourly-{key}-{now:%Y%m%dT%H}", partition_key=key)


@dg.schedule(
    job=cars_sync_job,
    cron_schedule="30 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly full refresh: walks the whole catalogue and delists cars that "
    "disappeared.",
)
def cars_nightly_full_refresh_schedule(context: dg.ScheduleEvaluationContext):
    stamp = context.scheduled_execution_time.strftime("%Y%m%d")
    return dg.RunRequest(
        run_key=f"cars-full-refresh-{stamp}",
        run_config=FULL_REFRESH_RUN_CONFIG,
        tags=CARS_SOURCE_SYNC.full_refresh_tags(),
    )
