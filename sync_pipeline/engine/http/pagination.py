"""Walk a list endpoint page by page, for every pagination style of the upstream contract.

- `fetch_pages`: `page=N` with `total` and/or `total_pages` in the body (cars, users). The first
  page gives the total; the remaining pages are fetched concurrently (up to the client's
  `concurrency` in flight and `max_queue` more parsed and waiting) and yielded in page order,
  so `page.number` is always the contiguous high-water mark a caller can checkpoint, and
  `start_page=N+1` resumes after it. If the last page is still full, the walk goes on page by
  page until a short one: records appended during the walk are not lost.
- `fetch_cursor_pages`: `cursor` / `next_cursor` (stores, contacts), strictly sequential, with
  the next page requested while the caller works on the current one.

Each page is handed over only after its whole body parsed. A record whose key was already
seen in this walk (pagination shifted under concurrent updates) is counted, and kept only when
its page arrived later than the copy kept before (the newest copy wins, see `DuplicateFilter`).
Memory is bounded whatever the listing's size: at most `concurrency + max_queue` parsed pages
(measured: about 90 MB for 32 pages of 1000 cars behind a slow consumer), plus one key per
record for the duplicate check (about 14 MB for 200k cars).

Each page carries the `total` its own response reported; a caller that needs to know whether
the listing changed under the walk (records leaving a window shift later pages back, which no
client can see from one walk) compares them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.concurrency import ordered_map
from sync_pipeline.engine.http.errors import MalformedBody
from sync_pipeline.engine.http.page import (
    DuplicateFilter,
    Page,
    parse_cursor_body,
    parse_paged_body,
)
from sync_pipeline.engine.http.progress import ProgressReporter
from sync_pipeline.engine.http.responses import ApiResponse, NotFound

RecordKey = Callable[[dict[str, Any]], Hashable]


@dataclass(frozen=True)
class PagedListing:
    """A `page=N` endpoint: where its records are and how its page size is named.

    Cars: `PagedListing("/cars", "items", "page_size", 1000)`;
    users: `PagedListing("/users", "data", "per_page", 500, {"updated_since": ..., ...})`.
    """

    path: str
    records_field: str
    size_param: str
    page_size: int
    params: Mapping[str, Any] = field(default_factory=dict)
    page_param: str = "page"

    def params_for(self, number: int) -> dict[str, Any]:
        return {**self.params, self.page_param: number, self.size_param: self.page_size}


async def fetch_pages(
    client: ApiClient,
    listing: PagedListing,
    key: RecordKey,
    *,
    start_page: int = 1,
    progress: ProgressReporter | None = None,
) -> AsyncIterator[Page]:
    """Yield every page from `start_page` on, in order, duplicates dropped.

    Raises what `ApiClient.get_json` raises; a 404 on a list page raises `MalformedBody`.
    """
    seen = DuplicateFilter(key)

    async def fetch(number: int) -> Page:
        return await fetch_page(client, listing, number)

    first = await fetch(start_page)
    if progress is not None and first.total is not None:
        progress.set_total(max(first.total - (start_page - 1) * first.page_size, 0))
    yield _deduplicated(client, seen, first)
    last = first
    if first.last_page is not None and first.last_page > start_page:
        window = client.config.concurrency + client.config.max_queue
        async for _, page in ordered_map(fetch, range(start_page + 1, first.last_page + 1), window):
            yield _deduplicated(client, seen, page)
            last = page
    while last.served >= last.page_size > 0:
        last = await fetch(last.number + 1)
        yield _deduplicated(client, seen, last)


async def fetch_cursor_pages(
    client: ApiClient,
    path: str,
    key: RecordKey,
    *,
    limit: int,
    params: Mapping[str, Any] | None = None,
    start_cursor: str | None = None,
    records_field: str = "data",
    cursor_param: str = "cursor",
    limit_param: str = "limit",
) -> AsyncIterator[Page]:
    """Yield pages following `next_cursor` from `start_cursor` (None: the beginning) to the end.

    `page.next_cursor` is the checkpoint: pass it back as `start_cursor` to resume after
    that page. Raises what `ApiClient.get_json` raises; a 404 raises `MalformedBody`.
    """
    seen = DuplicateFilter(key)

    def fetch(cursor: str | None, number: int) -> asyncio.Future:
        query = {**(params or {}), limit_param: limit}
        if cursor is not None:
            query[cursor_param] = cursor
        parse = lambda body: parse_cursor_body(body, records_field, number, cursor, limit)
        return asyncio.ensure_future(client.get_json(path, query, parse=parse))

    number = 1
    pending: asyncio.Future | None = fetch(start_cursor, number)
    try:
        while pending is not None:
            page = _page_of(await pending)
            pending = None
            if page.next_cursor is not None:
                number += 1
                pending = fetch(page.next_cursor, number)
            yield _deduplicated(client, seen, page)
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


async def fetch_page(client: ApiClient, listing: PagedListing, number: int) -> Page:
    """Page `number` of `listing` as served now, repeats not dropped; raises like `fetch_pages`."""
    result = await client.get_json(
        listing.path,
        listing.params_for(number),
        parse=lambda body: parse_paged_body(body, listing.records_field, number, listing.page_size),
    )
    return _page_of(result)


def _page_of(result: ApiResponse[Page] | NotFound) -> Page:
    if isinstance(result, NotFound):
        raise MalformedBody(
            f"list endpoint {result.path} answered 404 ({result.code or 'no code'})"
        )
    return replace(result.data, fetched_at=time.monotonic())


def _deduplicated(client: ApiClient, seen: DuplicateFilter, page: Page) -> Page:
    kept = seen.keep_new(page)
    client.metrics.record_page(len(kept.records) - kept.replaced, kept.duplicates + kept.replaced)
    return kept
