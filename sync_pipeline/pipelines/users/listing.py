"""Walk `GET /users` over one `updated_at` window, as far as a page budget allows.

Pages are numbered, so a user that leaves the window during the walk (it was updated, and its
new `updated_at` lies after the window) shifts the users behind it one place to the left: one
of them can slip from an unread page onto a page already read and be missed. In a window that
lies in the past users can only leave, so every page reports the same `total` exactly when
nobody left: a walk whose totals differ is `stable=False`, and callers walk again or do not
trust it to advance a cursor. Repeated users (a shift the other way) are dropped, the later
copy kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sync_pipeline.engine.http import ApiClient, MalformedBody, NotFound, ordered_map
from sync_pipeline.engine.http.page import Page, parse_paged_body
from sync_pipeline.pipelines.users.window import Window, parse_instant

LIST_PATH = "/users"
MAX_PAGE_SIZE = 500


@dataclass
class SummaryWalk:
    """What a walk read: summaries in list order (later copies of an id win), page counts."""

    window: Window
    summaries: dict[int, dict[str, Any]] = field(default_factory=dict)
    pages_read: int = 0
    last_page: int = 0
    total: int | None = None
    stable: bool = True
    rejected: int = 0
    elapsed_s: float = 0.0

    @property
    def complete(self) -> bool:
        """Whether every page of the window was read."""
        return self.pages_read >= self.last_page

    def last_stamp(self) -> datetime | None:
        """The latest parsable `updated_at` read so far (the list is ordered by it)."""
        for summary in reversed(self.summaries.values()):
            stamp = parse_instant(summary.get("updated_at"))
            if stamp is not None:
                return stamp
        return None


async def walk_summaries(
    client: ApiClient,
    window: Window,
    page_size: int,
    max_pages: int | None = None,
    walk: SummaryWalk | None = None,
    on_total: Callable[[int], None] | None = None,
) -> SummaryWalk:
    """Read up to `max_pages` more pages of `window` (None: all), continuing `walk` if given.

    Pages after the first of a call are fetched concurrently and kept in order. A summary
    without an integer id is counted in `rejected` and dropped: no run can be asked for it.
    `on_total` is called with the window's total once the first page tells it (progress).
    Raises what `ApiClient.get_json` raises; a 404 on a list page raises `MalformedBody`.
    """
    started = time.monotonic()
    walk = walk or SummaryWalk(window)
    size = min(page_size, MAX_PAGE_SIZE)
    first = walk.pages_read + 1
    if walk.pages_read == 0:
        _take(client, walk, await _fetch(client, window, first, size))
        first += 1
        if on_total is not None and walk.total is not None:
            on_total(walk.total)
    stop = walk.last_page if max_pages is None else min(walk.last_page, walk.pages_read + max_pages)

    async def fetch(number: int) -> Page:
        return await _fetch(client, window, number, size)

    async for _, page in ordered_map(fetch, range(first, stop + 1), client.config.concurrency):
        _take(client, walk, page)
    walk.elapsed_s += time.monotonic() - started
    return walk


async def _fetch(client: ApiClient, window: Window, number: int, size: int) -> Page:
    params = {**window.params(), "page": number, "per_page": size}
    result = await client.get_json(
        LIST_PATH, params, parse=lambda body: parse_paged_body(body, "data", number, size)
    )
    if isinstance(result, NotFound):
        raise MalformedBody(f"list endpoint {LIST_PATH} answered 404 ({result.code or 'no code'})")
    return result.data


def _take(client: ApiClient, walk: SummaryWalk, page: Page) -> None:
    if walk.pages_read == 0:
        walk.total = page.total
        walk.last_page = page.last_page or 1
    elif page.total != walk.total:
        walk.stable = False
    walk.pages_read += 1
    repeated = 0
    for summary in page.records:
        user_id = summary.get("id") if isinstance(summary, dict) else None
        if type(user_id) is not int:
            walk.rejected += 1
            continue
        repeated += walk.summaries.pop(user_id, None) is not None
        walk.summaries[user_id] = summary
    client.metrics.record_page(len(page.records) - repeated, repeated)
