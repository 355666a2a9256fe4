"""Workspaces become partitions: `GET /workspaces` compared with the partitions Dagster knows."""

from __future__ import annotations

import asyncio

import dagster as dg

from sync_pipeline.defs.contacts.partitions import contacts_workspaces
from sync_pipeline.defs.resources import PostgresResource, UpstreamApiResource
from sync_pipeline.pipelines.contacts import list_workspaces


def fetch_workspaces(api: UpstreamApiResource, postgres: PostgresResource) -> list[str]:
    """Every workspace id the API key sees, sorted; raises what the client raises."""

    async def fetch() -> list[str]:
        async with api.client(postgres) as client:
            return await list_workspaces(client)

    return asyncio.run(fetch())


def new_workspaces(instance: dg.DagsterInstance, workspaces: list[str]) -> list[str]:
    """The workspaces that are not partitions yet."""
    known = set(instance.get_dynamic_partitions(contacts_workspaces.name))
    return [ws for ws in workspaces if ws not in known]
