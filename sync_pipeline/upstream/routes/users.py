"""`GET /users` (summaries by updated_at, id) and `GET /users/{id}` (the slow detail)."""

from __future__ import annotations

import xxhash
from starlette.requests import Request

from sync_pipeline.upstream.clock import iso_from_ms, now_ms
from sync_pipeline.upstream.data.mutate import delete_user
from sync_pipeline.upstream.data.oddities import hostile_blobs
from sync_pipeline.upstream.data.users import SUMMARY_FIELDS
from sync_pipeline.upstream.gate import Admission
from sync_pipeline.upstream.responses import ApiError
from sync_pipeline.upstream.routes.paging import join, numbered_page
from sync_pipeline.upstream.routes.params import int_param, time_param
from sync_pipeline.upstream.state import UpstreamState

MAX_PER_PAGE = 500


def list_users(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """User summaries ordered by (updated_at, id) in the half-open window
    since <= updated_at < until."""
    page = int_param(request, "page", 1, 1)
    per_page = int_param(request, "per_page", 100, 1, MAX_PER_PAGE)
    since, until = time_param(request, "updated_since"), time_param(request, "updated_until")
    positions = state.dataset.users.in_update_order(since, until)
    summaries, _ = _forms(state, admission)
    items = numbered_page(summaries, positions, page, per_page, admission)
    total = len(positions)
    return b'{"data":[%s],"page":%d,"per_page":%d,"total":%d,"total_pages":%d}' % (
        join(items),
        page,
        per_page,
        total,
        -(-total // per_page),
    )


def get_user(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """One user with profile, settings, roles and addresses; 404 `user_not_found` once deleted."""
    raw_id = request.path_params["user_id"]
    user_id = int(raw_id) if raw_id.isdigit() else None
    position = state.dataset.users.position(user_id) if user_id is not None else None
    if position is not None and _vanishes(state, user_id):
        delete_user(state.dataset, user_id)
        state.stats.fault(admission.endpoint.name, admission.token, "deleted_before_detail")
        position = None
    if position is None:
        raise ApiError(404, "user_not_found", f"user {raw_id} does not exist")
    _, details = _forms(state, admission)
    return b'%s,"fetched_at":"%s"}' % (details[position][:-1], iso_from_ms(now_ms()).encode())


def _forms(state: UpstreamState, admission: Admission) -> tuple[list[bytes], list[bytes]]:
    table = state.dataset.users
    if admission.hostile_data:
        return table.variant("hostile", hostile_blobs(state.seed, "users", SUMMARY_FIELDS))
    return table.blobs, table.details


def _vanishes(state: UpstreamState, user_id: int) -> bool:
    """Hostile "deleted between list and detail": a stable few users disappear when fetched."""
    share = state.settings["users"].vanishing_users
    if share <= 0:
        return False
    return (
        xxhash.xxh64_intdigest(f"vanish:{user_id}".encode(), state.seed & 0xFFFFFFFFFFFFFFFF)
        / 2**64
        < share
    )
