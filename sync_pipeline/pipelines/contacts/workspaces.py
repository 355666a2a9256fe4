"""`GET /workspaces`: the workspaces the API key sees, each one partition of the contacts sync."""

from __future__ import annotations

from typing import Any

from sync_pipeline.engine.http import ApiClient, MalformedBody, NotFound


def parse_workspaces(body: Any) -> list[str]:
    """The workspace ids of a `/workspaces` body, sorted; raises `MalformedBody` on a bad shape."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise MalformedBody("the /workspaces body has no data list")
    ids = [item.get("id") if isinstance(item, dict) else None for item in body["data"]]
    if not all(isinstance(i, str) and i for i in ids):
        raise MalformedBody("a workspace has no string id")
    return sorted(set(ids))


async def list_workspaces(client: ApiClient) -> list[str]:
    """Every workspace id, sorted; raises what the client raises (a 404 as `MalformedBody`)."""
    response = await client.get_json("/workspaces", parse=parse_workspaces)
    if isinstance(response, NotFound):
        raise MalformedBody("/workspaces answered 404")
    return response.data
