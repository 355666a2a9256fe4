"""The pvp job (one board per run), its hourly schedule (off by default) and the CLI's entry."""

from __future__ import annotations

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.pvp.partitions import board_for_key, partition_key_for, pvp_partitions
from sync_pipeline.defs.source_sync import SourceSync
from sync_pipeline.errors import ConfigError

SOURCE = registry.source("pvp")

pvp_sync_job = dg.define_asset_job(
    "pvp_sync_job",
    selection=dg.AssetSelection.groups("pvp"),
    partitions_def=pvp_partitions,
    tags=SOURCE.job_tags,
    description="Sync one leaderboard (region x bracket): the board, its characters, their "
    "equipment.",
)


class PvpSourceSync(SourceSync):
    """`sync-pipeline sync pvp`: every board, one run each; `--partition eu|3v3` one board."""

    def resolve_partition(self, key: str) -> str:
        return str(partition_key_for(board_for_key(key)))

    def default_partitions(self) -> list[str]:
        return list(self.partitions.get_partition_keys())

    def full_refresh_tags(self) -> dict[str, str]:
        raise ConfigError(
            "pvp has no full refresh: every run stores a whole board; run without --partition "
            "to sync all 16 boards"
        )


PVP_SOURCE_SYNC = PvpSourceSync(
    source="pvp",
    job_name="pvp_sync_job",
    op_name="pvp_equipment",
    partitions=pvp_partitions,
    upstream="pvp",
    summary_asset="pvp_equipment",
)


@dg.schedule(
    job=pvp_sync_job,
    cron_schedule="20 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly: one run per leaderboard (16), held to the pvp API's run and pool limits.",
)
def pvp_hourly_schedule(context: dg.ScheduleEvaluationContext):
    stamp = context.scheduled_execution_time.strftime("%Y%m%dT%H")
    for key in pvp_partitions.get_partition_keys():
        yield dg.RunRequest(run_key=f"pvp-{key}-{stamp}", partition_key=key)
