"""`GET /cars`: the catalogue by id, page-numbered, optionally within an `updated_at` window."""

from __future__ import annotations

from starlette.requests import Request

from sync_pipeline.upstream.data.oddities import served_blobs
from sync_pipeline.upstream.gate import Admission
from sync_pipeline.upstream.routes.paging import join, numbered_page
from sync_pipeline.upstream.routes.params import int_param, time_param
from sync_pipeline.upstream.state import UpstreamState

MAX_PAGE_SIZE = 1000


def list_cars(state: UpstreamState, request: Request, admission: Admission) -> bytes:
    """Cars ordered by id; `total` counts the cars in the window (half-open:
    since <= updated_at < until)."""
    page = int_param(request, "page", 1, 1)
    size = int_param(request, "page_size", 100, 1, MAX_PAGE_SIZE)
    since, until = time_param(request, "updated_since"), time_param(request, "updated_until")
    table = state.dataset.cars
    blobs = served_blobs(table, state.seed, "cars", admission.hostile_data)
    positions = (
        range(len(table)) if since is None and until is None else table.in_window(since, until)
    )
    items = numbered_page(blobs, positions, page, size, admission)
    return b'{"items":[%s],"page":%d,"page_size":%d,"total":%d}' % (
        join(items),
        page,
        size,
        len(positions),
    )
