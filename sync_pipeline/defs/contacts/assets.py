"""`contacts_snapshot` -> `contacts_changes` -> `contacts`, one streaming step per run.

Each workspace of the run (one partition, or a range on a full refresh) is walked page by page
(the snapshot), classified against the stored fingerprints (the change set) and merged (the
table), batch by batch with its cursor checkpoint, as cars are (see `defs/cars/assets.py`).
Updated rows fire the field-change trigger; the workflow queue takes it from there.
"""

from collections.abc import Callable

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.asset_metadata import (
    layered_asset_specs,
    report_partitions,
    table_row_count,
)
from sync_pipeline.defs.contacts.checks import CONTACTS_CHECK_SPECS, evaluate_contacts_checks
from sync_pipeline.defs.contacts.config import ContactsSyncConfig
from sync_pipeline.defs.contacts.partitions import contacts_workspaces
from sync_pipeline.defs.resources import PostgresResource, UpstreamApiResource
from sync_pipeline.defs.step_failures import STEP_RETRY, run_step
from sync_pipeline.entities.contacts import CONTACTS
from sync_pipeline.pipelines.contacts import WorkspaceOutcome, sync_workspace

SOURCE = registry.source("contacts")
PARTITIONS_MEAN = (
    " One partition per workspace (registered as the API lists them); a full refresh covers "
    "every workspace in one run, each reporting its own figures."
)


@dg.multi_asset(
    specs=layered_asset_specs(
        "contacts",
        CONTACTS,
        snapshot="Upstream /contacts pages of the partition's workspace: contacts "
        "updated since the stored high-water mark, or all on a full refresh. Its check judges "
        "the fetch (error rate).",
        changes="The change set: inserted, updated, unchanged, soft-deleted and "
        "quarantined contacts, and the watched-field changes they logged.",
        table="Table `contacts`: one row per contact, fingerprinted; its row "
        "trigger logs watched-field changes to contact_field_changes. Its checks judge the "
        "table (reconciliation, quarantine share).",
        partitions_note=PARTITIONS_MEAN,
    ),
    check_specs=CONTACTS_CHECK_SPECS,
    partitions_def=contacts_workspaces,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=SOURCE.pool,
    op_tags=SOURCE.run_tags,
    retry_policy=STEP_RETRY,
)
def contacts_sync(
    context: dg.AssetExecutionContext,
    config: ContactsSyncConfig,
    postgres: PostgresResource,
    contacts_api: UpstreamApiResource,
):
    workspaces = list(context.partition_keys)
    context.log.info(
        f"contacts sync of {len(workspaces)} workspace(s), "
        f"{'full refresh' if config.full_refresh else 'incremental'}"
    )
    client = contacts_api.client(postgres, log=context.log)
    outcomes, http = run_step(_sync(postgres, client, workspaces, context.run.run_id, config))
    by_workspace = {o.workspace_id: o for o in outcomes}
    for o in outcomes:
        if o.resume_note:
            context.log.warning(f"contacts {o.scope_label}: {o.resume_note}")
    yield report_partitions(
        context,
        "contacts_snapshot",
        per_workspace(by_workspace, snapshot_figures),
        snapshot_metadata(http),
    )
    yield report_partitions(
        context,
        "contacts_changes",
        per_workspace(by_workspace, changes_figures),
        changes_metadata(outcomes),
    )
    yield report_partitions(
        context, "contacts", per_workspace(by_workspace, table_figures), table_metadata(outcomes)
    )
    yield from evaluate_contacts_checks(outcomes, http, config.max_error_rate)


async def _sync(
    postgres: PostgresResource,
    client,
    workspaces: list[str],
    run_id: str,
    config: ContactsSyncConfig,
) -> tuple[list[WorkspaceOutcome], dict]:
    settings = config.settings()
    async with client:
        outcomes = [
            await sync_workspace(postgres.pool(), client, ws, run_id, settings) for ws in workspaces
        ]
        return outcomes, client.metrics.snapshot()


def per_workspace(
    by_workspace: dict[str, WorkspaceOutcome], figures: Callable[[WorkspaceOutcome], dict]
) -> dict[str, dict]:
    """Each workspace's (partition's) own figures."""
    return {ws: figures(o) for ws, o in by_workspace.items()}


def snapshot_figures(o: WorkspaceOutcome) -> dict:
    return {"pages": o.pages, "records": o.records, "scope": o.scope_label}


def changes_figures(o: WorkspaceOutcome) -> dict:
    r = o.result
    return {
        "inserted": r.inserted,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "soft_deleted": r.soft_deleted,
        "quarantined": r.quarantined,
        "sanitized_values": r.sanitized_values,
        "field_changes_logged": o.field_changes,
    }


def table_figures(o: WorkspaceOutcome) -> dict:
    return {
        "partition_live_rows": o.live_rows,
        "partition_rows_written": o.result.written,
        "elapsed_s": float(o.elapsed_s),
        **table_row_count(CONTACTS, o.live_rows),
    }


def snapshot_metadata(http: dict) -> dict:
    """Run-wide: what the run's requests did (all workspaces share the client)."""
    return {
        "requests": http.get("requests", 0),
        "retries": http.get("retries", 0),
        "http_429": http.get("http_429", 0),
        "latency_p95_ms": float(http.get("latency_p95_ms", 0.0)),
    }


def changes_metadata(outcomes: list[WorkspaceOutcome]) -> dict:
    """Run-wide: a sample of the changed ids."""
    changed = [str(k) for o in outcomes for k in o.result.changed_keys[:50]][:50]
    return {"changed_ids_sample": dg.MetadataValue.json(changed)}


def table_metadata(outcomes: list[WorkspaceOutcome]) -> dict:
    """Run-wide: the workspaces of the run, their live rows and the run's summary table."""
    return {
        "workspaces": len(outcomes),
        "live_rows_in_run_workspaces": sum(o.live_rows for o in outcomes),
        "run_elapsed_s": float(sum(o.elapsed_s for o in outcomes)),
        "resume_notes": dg.MetadataValue.json(
            {o.workspace_id: o.resume_note for o in outcomes if o.resume_note}
        ),
        "summary": dg.MetadataValue.md(summary_markdown(outcomes)),
    }


def summary_markdown(outcomes: list[WorkspaceOutcome]) -> str:
    header = (
        "| workspace | scope | records | inserted | updated | unchanged | deleted | "
        "quarantined | field changes | live rows |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        r = o.result
        lines.append(
            f"| {o.workspace_id} | {'full' if o.full_refresh else 'since'} | {o.records:,} "
            f"| {r.inserted:,} | {r.updated:,} | {r.unchanged:,} | {r.soft_deleted:,} "
            f"| {r.quarantined:,} | {o.field_changes:,} | {o.live_rows:,} |"
        )
    return "\n".join(lines)
