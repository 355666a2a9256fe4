"""`contacts_workspaces_sensor` (every 5 min, on by default): new workspaces become partitions
and get a first full run each."""

import dagster as dg

from sync_pipeline.defs.contacts.discovery import fetch_workspaces, new_workspaces
from sync_pipeline.defs.contacts.jobs import FULL_REFRESH_RUN_CONFIG, contacts_sync_job
from sync_pipeline.defs.contacts.partitions import contacts_workspaces
from sync_pipeline.defs.resources import PostgresResource, UpstreamApiResource


@dg.sensor(
    job=contacts_sync_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lists the CRM's workspaces; each new one becomes a partition with a first "
    "full run.",
)
def contacts_workspaces_sensor(
    context: dg.SensorEvaluationContext,
    postgres: PostgresResource,
    contacts_api: UpstreamApiResource,
) -> dg.SensorResult:
    workspaces = fetch_workspaces(contacts_api, postgres)
    found = new_workspaces(context.instance, workspaces)
    if not found:
        return dg.SensorResult(skip_reason=f"no new workspace among {len(workspaces)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[contacts_workspaces.build_add_request(found)],
        run_requests=[
            dg.RunRequest(
                run_key=f"contacts-first-{ws}", partition_key=ws, run_config=FULL_REFRESH_RUN_CONFIG
            )
            for ws in found
        ],
    )
