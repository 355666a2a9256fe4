"""The contacts job, its schedules (off by default) and the CLI's entry.

- hourly: an incremental run of every known workspace (one run each);
- nightly: a full refresh of every workspace, the only run that soft-deletes contacts.
"""

from __future__ import annotations

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.contacts.assets import contacts_sync
from sync_pipeline.defs.contacts.discovery import fetch_workspaces, new_workspaces
from sync_pipeline.defs.contacts.partitions import contacts_workspaces
from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.defs.source_sync import SourceSync
from sync_pipeline.errors import ConfigError

SOURCE = registry.source("contacts")
FULL_REFRESH_RUN_CONFIG = {"ops": {"contacts_sync": {"config": {"full_refresh": True}}}}

contacts_sync_job = dg.define_asset_job(
    "contacts_sync_job",
    selection=dg.AssetSelection.assets(contacts_sync),
    partitions_def=contacts_workspaces,
    tags=SOURCE.job_tags,
    description="Sync the contacts of a workspace (incremental), or of a range on a full refresh.",
)


class ContactsSourceSync(SourceSync):
    """`sync-pipeline sync contacts`: every workspace (registered first), one run each;
    `--partition WS` one workspace; `--full-refresh` one run over every workspace."""

    discovers_partitions = True

    def prepare_partitions(self, instance: dg.DagsterInstance) -> None:
        api = SOURCE.resources()["contacts_api"]
        found = new_workspaces(instance, fetch_workspaces(api, PostgresResource()))
        if found:
            instance.add_dynamic_partitions(contacts_workspaces.name, found)

    def default_partitions(self) -> list[str]:
        return list(self.partitions.get_partition_keys())

    def full_refresh_tags(self) -> dict[str, str]:
        if not self.partitions.get_partition_keys():
            raise ConfigError("the contacts API lists no workspace: nothing to refresh")
        return super().full_refresh_tags()


CONTACTS_SOURCE_SYNC = ContactsSourceSync(
    source="contacts",
    job_name="contacts_sync_job",
    op_name="contacts_sync",
    partitions=contacts_workspaces,
    upstream="contacts",
    summary_asset="contacts",
)


def _every_workspace(context: dg.ScheduleEvaluationContext, kind: str, run_config: dict | None):
    stamp = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    for ws in context.instance.get_dynamic_partitions(contacts_workspaces.name):
        yield dg.RunRequest(
            run_key=f"contacts-{kind}-{ws}-{stamp}", partition_key=ws, run_config=run_config or {}
        )


@dg.schedule(
    job=contacts_sync_job,
    cron_schedule="10 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly: an incremental run of every known workspace.",
)
def contacts_hourly_schedule(context: dg.ScheduleEvaluationContext):
    yield from _every_workspace(context, "hourly", None)


@dg.schedule(
    job=contacts_sync_job,
    cron_schedule="45 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly: a full refresh of every workspace (soft-deletes vanished contacts).",
)
def contacts_nightly_full_refresh_schedule(context: dg.ScheduleEvaluationContext):
    yield from _every_workspace(context, "full", FULL_REFRESH_RUN_CONFIG)
