"""The contacts source (upstream-api.md section 5) without Dagster.

    workspaces = await list_workspaces(client)                       # the partitions
    outcome = await sync_workspace(pool, client, workspaces[0], run_id, ContactsSyncSettings())

`workspaces` (GET /workspaces) -> `sync` (one workspace's cursor walk through the engine). What
happens after a watched field changed lives in `sync_pipeline/workflows/`.
"""

from sync_pipeline.pipelines.contacts.sync import (
    PIPELINE,
    ContactsSyncSettings,
    WorkspaceOutcome,
    sync_workspace,
)
from sync_pipeline.pipelines.contacts.workspaces import list_workspaces

__all__ = [
    "PIPELINE",
    "ContactsSyncSettings",
    "WorkspaceOutcome",
    "list_workspaces",
    "sync_workspace",
]
