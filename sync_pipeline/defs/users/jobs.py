"""The users jobs, the daily reconcile schedule (off by default), and the CLI's view of them.

- `users_worker_job`: materializes `users` for the ids in its config; the detector sensor
  launches it. Its runs carry the tag `sync_pipeline/upstream: users`, which the run queue
  limits (dagster.yaml, 4 at once): that limit is the worker's concurrency, and the shared
  detail bucket keeps all of them together under the API's limit;
- `users_sync_job`: the three assets for a partition, a range, or every user (full refresh):
  the reconcile, for backfills, the schedule and `sync-pipeline sync users`.
"""

from datetime import timedelta

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.source_sync import SourceSync
from sync_pipeline.defs.users.assets import users_sync
from sync_pipeline.defs.users.partitions import users_daily_partitions

users_worker_job = dg.define_asset_job(
    "users_worker_job",
    selection=dg.AssetSelection.assets("users_snapshot", "users"),
    partitions_def=users_daily_partitions,
    tags=registry.source("users").job_tags,
    description="Fetch the details of the users in the config and store them (launched by "
    "users_change_detector).",
)

users_sync_job = dg.define_asset_job(
    "users_sync_job",
    selection=dg.AssetSelection.assets(users_sync),
    partitions_def=users_daily_partitions,
    tags=registry.source("users").job_tags,
    description="Reconcile users for a partition (updated_at day), a range, or every user.",
)


@dg.schedule(
    job=users_sync_job,
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Reconcile yesterday's partition after midnight: repairs whatever the detector and "
    "worker missed.",
)
def users_daily_reconcile_schedule(context: dg.ScheduleEvaluationContext):
    day = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"users-reconcile-{day}", partition_key=day)


USERS_SOURCE_SYNC = SourceSync(
    source="users",
    job_name="users_sync_job",
    op_name="users_sync",
    partitions=users_daily_partitions,
    upstream="users",
    summary_asset="users",
)
