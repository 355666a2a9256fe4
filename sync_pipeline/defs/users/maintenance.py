"""`users_prune_job` and its daily schedule (on by default): bookkeeping older than
`USERS_RETENTION_DAYS` (7) is deleted, see `pipelines/users/prune.py`."""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.defs.users.config import retention_days
from sync_pipeline.pipelines.users.prune import prune_bookkeeping


class PruneConfig(dg.Config):
    retention_days: int | None = Field(
        default=None,
        description="Keep this many days (default USERS_RETENTION_DAYS or 7; at least 1).",
    )


@dg.op(
    description="Delete finished users checkpoints and quarantined pending rows older than "
    "the retention."
)
def prune_users_bookkeeping(
    context: dg.OpExecutionContext, config: PruneConfig, postgres: PostgresResource
) -> dg.Output:
    days = config.retention_days if config.retention_days is not None else retention_days()
    with postgres.connection() as conn:
        pruned = prune_bookkeeping(conn, timedelta(days=max(days, 1)))
    context.log.info(
        f"users bookkeeping pruned: {pruned.checkpoints} checkpoints, "
        f"{pruned.pending_rows} quarantined pending rows (retention {days} days)"
    )
    return dg.Output(
        None,
        metadata={
            "checkpoints_pruned": pruned.checkpoints,
            "pending_rows_pruned": pruned.pending_rows,
            "retention_days": days,
        },
    )


@dg.job(
    description="Prune the users pipeline's bookkeeping (finished checkpoints, old "
    "quarantined pending rows)."
)
def users_prune_job():
    prune_users_bookkeeping()


users_prune_schedule = dg.ScheduleDefinition(
    name="users_prune_schedule",
    job=users_prune_job,
    cron_schedule="40 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night: delete users bookkeeping older than USERS_RETENTION_DAYS.",
)
