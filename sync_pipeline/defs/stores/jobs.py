"""The stores jobs, their daily schedule and sensor (off by default) and the CLI's entry.

- `stores_list_job`: the `stores` asset (the list; registers and retires partitions);
- `stores_sync_job`: users and videos per store partition; a backfill of any number of stores
  is one run (single-run backfill policy), so "all stores" is one run working on many at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sync_pipeline.defs.source_sync import QUIET_LOGGING, SourceSync
from sync_pipeline.defs.stores.assets import stores, stores_sync
from sync_pipeline.defs.stores.partitions import registered_store_codes, stores_partitions
from sync_pipeline.errors import ConfigError

SOURCE = registry.source("stores")

stores_list_job = dg.define_asset_job(
    "stores_list_job",
    selection=dg.AssetSelection.assets(stores),
    tags=SOURCE.job_tags,
    description="Sync the store list: a partition per new store, vanished stores retired.",
)

stores_sync_job = dg.define_asset_job(
    "stores_sync_job",
    selection=dg.AssetSelection.assets(stores_sync),
    partitions_def=stores_partitions,
    tags=SOURCE.job_tags,
    description="Sync users and videos of one store, a selection, or every store (one run).",
)


@dataclass(frozen=True)
class StoresSourceSync(SourceSync):
    """`sync-pipeline sync stores`: the store list (a run of its own: it registers and retires
    the store partitions), then every store in one run; `--partition CODE` that store alone."""

    discovers_partitions = True
    list_job_name: str = "stores_list_job"
    pending_list_runs: list = field(default_factory=list, compare=False, repr=False)

    def prepare_partitions(self, instance: dg.DagsterInstance) -> None:
        self.pending_list_runs.append(self.execute_list(instance))

    def default_partitions(self) -> list[str | None]:
        """One run of every store (None), not one run per store."""
        return [None]

    def partition_hint(self) -> str:
        codes = list(self.partitions.get_partition_keys())
        shown = ", ".join(codes[:5]) + (", ..." if len(codes) > 5 else "")
        return f"expected a live store code ({len(codes)} registered: {shown})"

    def full_refresh_tags(self) -> dict[str, str]:
        if not self.partitions.get_partition_keys():
            raise ConfigError("no live store is registered: nothing to sync (see the list run)")
        return super().full_refresh_tags()

    def run_config(
        self, full_refresh: bool, op_config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Every run of a store is its whole listing: "full refresh" only means every store."""
        return super().run_config(False, op_config)

    def execute(
        self, instance: dg.DagsterInstance, full_refresh: bool, keys: list[str | None]
    ) -> Iterator[dg.ExecuteInProcessResult]:
        from sync_pipeline.sources import execute_source_run  # it imports this module

        while self.pending_list_runs:
            listed = self.pending_list_runs.pop(0)
            yield listed
            if not listed.success:
                return
        for key in keys:
            yield execute_source_run(self, instance, key is None, key)

    def execute_list(self, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
        from sync_pipeline.run_launcher import worker_tags

        return self.job(self.list_job_name).execute_in_process(
            instance=instance, run_config=QUIET_LOGGING, tags=worker_tags(), raise_on_error=False
        )


def every_store_tags(codes: list[str]) -> dict[str, str]:
    """Tags of one run over every registered store (partitions keep their registration order)."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: codes[0],
        ASSET_PARTITION_RANGE_END_TAG: codes[-1],
        **SOURCE.run_tags,
    }


STORES_SOURCE_SYNC = StoresSourceSync(
    source="stores",
    job_name="stores_sync_job",
    op_name="stores_sync",
    partitions=stores_partitions,
    upstream="stores",
)


@dg.schedule(
    job=stores_list_job,
    cron_schedule="15 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily: the store list (then `stores_after_list` syncs every store in one run).",
)
def stores_daily_schedule(context: dg.ScheduleEvaluationContext):
    stamp = context.scheduled_execution_time.strftime("%Y%m%d")
    return dg.RunRequest(run_key=f"stores-list-{stamp}")


@dg.asset_sensor(
    asset_key=dg.AssetKey("stores"),
    job=stores_sync_job,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After each store-list sync, one run of every registered store.",
)
def stores_after_list(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    codes = registered_store_codes(context.instance)
    if not codes:
        return dg.SkipReason("no stores registered")
    return dg.RunRequest(
        run_key=f"stores-all-{asset_event.run_id}",
        tags=every_store_tags(codes),
    )
