"""`workflow_queue`: the durable webhook queue's state as an asset, with checks on its depth,
its oldest due job and its dead letters, evaluated every 5 minutes (on by default).

The asset reads `workflow_executions` (nothing is written); its metadata holds the depth by
status and priority. The checks judge stored data, so they run on their own schedule.
"""

import dagster as dg
from pydantic import Field

from sync_pipeline.defs.asset_metadata import asset_attributes
from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.workflows.queue import QueueState, queue_state

GROUP = "contacts_workflows"


class QueueLimits(dg.Config):
    max_due: int = Field(default=10_000, description="Most jobs due and not yet taken.")
    max_oldest_due_age_s: float = Field(default=300.0, description="Oldest due job's age, seconds.")
    max_dead: int = Field(default=0, description="Most dead letters before the check warns.")


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    description="Table `workflow_executions` read as a queue: depth by status and priority, "
    "due jobs, the oldest due job's age and the dead letters.",
    **asset_attributes("contacts", "queue"),
)
def workflow_queue(postgres: PostgresResource) -> dg.MaterializeResult:
    state = _read(postgres)
    depth = {f"{status}/p{priority}": n for (status, priority), n in sorted(state.depth.items())}
    return dg.MaterializeResult(
        metadata={
            "due": state.due,
            "oldest_due_age_s": float(state.oldest_due_age_s),
            "processing": state.count("processing"),
            "dead": state.count("dead"),
            "depth_by_status_priority": dg.MetadataValue.json(depth),
        }
    )


@dg.asset_check(asset=workflow_queue, description="Jobs due and not yet taken at most max_due.")
def queue_depth(config: QueueLimits, postgres: PostgresResource) -> dg.AssetCheckResult:
    state = _read(postgres)
    return dg.AssetCheckResult(
        passed=state.due <= config.max_due,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"due": state.due, "target_max": config.max_due},
    )


@dg.asset_check(
    asset=workflow_queue,
    description="The oldest due job waits at most max_oldest_due_age_s (no worker, or "
    "workers too few, show here first).",
)
def oldest_queued_age(config: QueueLimits, postgres: PostgresResource) -> dg.AssetCheckResult:
    state = _read(postgres)
    age = float(state.oldest_due_age_s)
    return dg.AssetCheckResult(
        passed=age <= config.max_oldest_due_age_s,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"oldest_due_age_s": age, "target_max_s": float(config.max_oldest_due_age_s)},
    )


@dg.asset_check(
    asset=workflow_queue,
    description="Dead letters at most max_dead; replay them with `sync-pipeline workflows replay`.",
)
def dead_letters(config: QueueLimits, postgres: PostgresResource) -> dg.AssetCheckResult:
    dead = _read(postgres).count("dead")
    return dg.AssetCheckResult(
        passed=dead <= config.max_dead,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"dead": dead, "target_max": config.max_dead},
    )


def _read(postgres: PostgresResource) -> QueueState:
    with postgres.connection() as conn:
        return queue_state(conn)


workflow_queue_monitor_job = dg.define_asset_job(
    "workflow_queue_monitor_job",
    selection=dg.AssetSelection.assets(workflow_queue)
    | dg.AssetSelection.checks_for_assets(workflow_queue),
    description="Read the workflow queue's state and evaluate its checks.",
)

workflow_queue_monitor_schedule = dg.ScheduleDefinition(
    name="workflow_queue_monitor_schedule",
    job=workflow_queue_monitor_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes: the queue's depth, oldest due job and dead letters checked.",
)
