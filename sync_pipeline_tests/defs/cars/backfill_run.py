"""One backfill run of every cars partition through Dagster's implicit asset job, in a process
of its own, as the daemon launches it for a UI backfill (`BackfillPolicy.single_run`: one run
over the partition range, tagged with its backfill id).

Prints `ready` once everything is imported, waits for a line on stdin (so two of them start
together), runs, and prints `run <run_id> <success>`.
"""

from __future__ import annotations

import sys

import dagster as dg

from sync_pipeline.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sync_pipeline.db.connect import app_database_url
from sync_pipeline.definitions import defs
from sync_pipeline.defs.cars.partitions import cars_daily_partitions
from sync_pipeline.instance import persistent_instance

CARS_ASSETS = [dg.AssetKey(name) for name in ("cars_snapshot", "cars_changes", "cars")]
BACKFILL_TAG = "dagster/backfill"


def main(backfill_id: str) -> int:
    job = defs.resolve_implicit_global_asset_job_def()
    keys = cars_daily_partitions.get_partition_keys()
    tags = {
        BACKFILL_TAG: backfill_id,
        ASSET_PARTITION_RANGE_START_TAG: keys[0],
        ASSET_PARTITION_RANGE_END_TAG: keys[-1],
    }
    with persistent_instance(app_database_url()) as instance:
        print("ready", flush=True)
        sys.stdin.readline()
        result = job.execute_in_process(
            instance=instance, asset_selection=CARS_ASSETS, tags=tags, raise_on_error=False
        )
    print(f"run {result.run_id} {result.success}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
