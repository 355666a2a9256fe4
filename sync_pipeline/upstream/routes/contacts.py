"""`GET /workspaces` and `GET /contacts?workspace_id=W`: CRM contacts by id, cursor-paged."""

from __future__ import annotations

import orjson
from starlette.requests import Request

from sync_pipeline.upstream.data.oddities import served_blobs
from sync_pipeline.upstream.gate import Admission
from sync_pipeline.upstream.responses import ApiError
from sync_pipeline.upstream.routes.paging import cursor_page, join
from sync_pipeline.upstream.routes.params import cursor_param, encode_cursor, int_param, time_param
from sync_pipeline.upstream.state import UpstreamState

MAX_LIMIT = 500


def list_workspaces(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """Every workspace of the account."""
    return orjson.dumps({"data": state.dataset.workspaces})


def list_contacts(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """A workspace's contacts ordered by id, optionally only those with
    updated_at >= updated_since."""
    workspace_id = request.query_params.get("workspace_id")
    if not workspace_id:
        raise ApiError(400, "invalid_parameter", "workspace_id is required")
    if workspace_id not in state.dataset.workspace_ids():
        raise ApiError(404, "workspace_not_found", f"workspace {workspace_id} does not exist")
    limit = int_param(request, "limit", 100, 1, MAX_LIMIT)
    since = time_param(request, "updated_since")
    after = cursor_param(request, "contact")
    table = state.dataset.contacts
    lo, hi = table.group_range(workspace_id)
    blobs = served_blobs(table, state.seed, "contacts", admission.hostile_data)
    positions = table.in_window(since, None) if since is not None else None
    items, last = cursor_page(
        table,
        blobs,
        lo,
        hi,
        (workspace_id, after) if after is not None else None,
        limit,
        admission,
        positions,
    )
    cursor = b"null" if last is None else b'"%s"' % encode_cursor("contact", last[1]).encode()
    return b'{"data":[%s],"next_cursor":%s}' % (join(items), cursor)
