"""`GET /stores`, `GET /stores/{code}/users`, `GET /stores/{code}/videos`: cursor pages by
code / id."""

from __future__ import annotations

from starlette.requests import Request

from sync_pipeline.upstream.data.oddities import served_blobs
from sync_pipeline.upstream.data.table import RecordTable
from sync_pipeline.upstream.gate import Admission
from sync_pipeline.upstream.responses import ApiError
from sync_pipeline.upstream.routes.paging import cursor_page, join
from sync_pipeline.upstream.routes.params import cursor_param, encode_cursor, int_cursor, int_param
from sync_pipeline.upstream.state import UpstreamState

MAX_LIMIT = 100


def list_stores(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """Stores ordered by code."""
    limit = int_param(request, "limit", 50, 1, MAX_LIMIT)
    after = cursor_param(request, "store")
    table = state.dataset.stores
    blobs = served_blobs(table, state.seed, "stores", admission.hostile_data)
    items, last = cursor_page(table, blobs, 0, len(table), after, limit, admission)
    return _page(items, encode_cursor("store", last) if last is not None else None)


def list_store_users(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """A store's users ordered by id; 403 `store_token_expired` for a store whose token expired."""
    return _members(state, request, admission, state.dataset.store_users, "store_users")


def list_store_videos(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """A store's videos ordered by id; 403 `store_token_expired` for a store whose token expired."""
    return _members(state, request, admission, state.dataset.videos, "store_videos")


def _members(
    state: UpstreamState, request: Request, admission: Admission, table: RecordTable, kind: str
) -> bytes:
    code = request.path_params["code"]
    if state.dataset.stores.position(code) is None:
        raise ApiError(404, "store_not_found", f"store {code} does not exist")
    if code in state.expired_stores():
        raise ApiError(403, "store_token_expired", f"the access token of store {code} has expired")
    limit = int_param(request, "limit", 50, 1, MAX_LIMIT)
    after = int_cursor(request, kind)
    lo, hi = table.group_range(code)
    blobs = served_blobs(table, state.seed, kind, admission.hostile_data)
    after_key = (code, after) if after is not None else None
    items, last = cursor_page(table, blobs, lo, hi, after_key, limit, admission)
    return _page(items, encode_cursor(kind, last[1]) if last is not None else None)


def _page(items: list[bytes], next_cursor: str | None) -> bytes:
    cursor = b"null" if next_cursor is None else b'"%s"' % next_cursor.encode()
    return b'{"data":[%s],"next_cursor":%s}' % (join(items), cursor)
