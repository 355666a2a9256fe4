"""The workflow queue's upkeep without a long-lived worker, and the change log's partitions.

- `workflow_drain_job`: dispatch pending field changes and deliver every due execution, then
  stop (`WorkflowWorker` with `until_idle`); its schedule (every minute) is off by default, for
  installs without `sync-pipeline workflows worker`.
- `contact_change_partitions_job`: monthly partitions of `contact_field_changes` created
  `months_ahead` ahead and dropped after `retention_months` (default 6); daily, on by default.
- `workflow_executions_prune_job`: executions completed more than `completed_retention_days`
  (default 30) ago deleted in batches; dead letters and unfinished jobs stay; daily, on by
  default.
"""

import asyncio
from datetime import timedelta

import dagster as dg
from pydantic import Field

from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.workflows.partitions import (
    DEFAULT_MONTHS_AHEAD,
    DEFAULT_RETENTION_MONTHS,
    maintain_change_partitions,
)
from sync_pipeline.workflows.queue import prune_completed
from sync_pipeline.workflows.worker import WorkerSettings, WorkflowWorker

DEFAULT_COMPLETED_RETENTION_DAYS = 30


class DrainConfig(dg.Config):
    concurrency: int = Field(default=16, description="Webhooks in flight.")
    request_timeout_s: float = Field(default=10.0, description="Seconds per webhook attempt.")
    lease_s: float = Field(default=60.0, description="Lease of a claimed job, seconds.")


@dg.op(description="Dispatch pending field changes and deliver every due webhook, then stop.")
def drain_workflow_queue(
    context: dg.OpExecutionContext, config: DrainConfig, postgres: PostgresResource
) -> dg.Output:
    settings = WorkerSettings(
        concurrency=config.concurrency,
        lease_s=config.lease_s,
        request_timeout_s=config.request_timeout_s,
        until_idle=True,
    )
    worker = WorkflowWorker(postgres.url().conninfo(), settings)
    stats = asyncio.run(worker.run())
    context.log.info(
        f"queue drained by {worker.owner}: {stats.delivered} delivered, "
        f"{stats.retried} to retry, {stats.dead} dead"
    )
    return dg.Output(
        None,
        metadata={
            "changes_dispatched": stats.changes_dispatched,
            "executions_queued": stats.executions_queued,
            "delivered": stats.delivered,
            "retried": stats.retried,
            "dead": stats.dead,
            "reclaimed": stats.reclaimed,
        },
    )


@dg.job(description="Drain the workflow queue once (for installs without a long-lived worker).")
def workflow_drain_job():
    drain_workflow_queue()


workflow_drain_schedule = dg.ScheduleDefinition(
    name="workflow_drain_schedule",
    job=workflow_drain_job,
    cron_schedule="* * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every minute: drain the workflow queue (turn on when no worker process runs).",
)


class PartitionMaintenanceConfig(dg.Config):
    months_ahead: int = Field(default=DEFAULT_MONTHS_AHEAD, description="Months created ahead.")
    retention_months: int = Field(
        default=DEFAULT_RETENTION_MONTHS, description="Months kept before a partition is dropped."
    )


@dg.op(description="Create contact_field_changes partitions ahead; drop those past retention.")
def maintain_contact_change_partitions(
    context: dg.OpExecutionContext, config: PartitionMaintenanceConfig, postgres: PostgresResource
) -> dg.Output:
    with postgres.connection() as conn:
        done = maintain_change_partitions(conn, config.months_ahead, config.retention_months)
    context.log.info(
        f"partitions created: {done.created or 'none'}; dropped: {done.dropped or 'none'}"
    )
    return dg.Output(
        None,
        metadata={
            "created": dg.MetadataValue.json(done.created),
            "dropped": dg.MetadataValue.json(done.dropped),
            "retention_months": config.retention_months,
        },
    )


@dg.job(
    description="Monthly partitions of contact_field_changes: create ahead, drop after retention."
)
def contact_change_partitions_job():
    maintain_contact_change_partitions()


contact_change_partitions_schedule = dg.ScheduleDefinition(
    name="contact_change_partitions_schedule",
    job=contact_change_partitions_job,
    cron_schedule="15 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: contact_field_changes partitions created ahead and old ones dropped.",
)


class PruneConfig(dg.Config):
    completed_retention_days: float = Field(
        default=DEFAULT_COMPLETED_RETENTION_DAYS,
        gt=0,
        description="Days a completed execution is kept (dead letters are never pruned).",
    )


@dg.op(description="Delete executions completed longer ago than the retention, in batches.")
def prune_completed_executions(
    context: dg.OpExecutionContext, config: PruneConfig, postgres: PostgresResource
) -> dg.Output:
    with postgres.connection() as conn:
        pruned = prune_completed(conn, timedelta(days=config.completed_retention_days))
    context.log.info(f"{pruned} completed execution(s) pruned")
    return dg.Output(
        None,
        metadata={"pruned": pruned, "retention_days": float(config.completed_retention_days)},
    )


@dg.job(description="Delete completed workflow executions older than the retention (30 days).")
def workflow_executions_prune_job():
    prune_completed_executions()


workflow_executions_prune_schedule = dg.ScheduleDefinition(
    name="workflow_executions_prune_schedule",
    job=workflow_executions_prune_job,
    cron_schedule="35 1 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: completed workflow executions older than the retention deleted.",
)
