"""Walk a paged list endpoint into a `SyncRun`: the loop every page-style source shares.

    async with ApiClient(config) as client:
        with SyncRun(pool, CARS, pipeline="cars", partition=key, run_id=run_id) as run:
            walk = await sync_paged_listing(client, listing, run, key=lambda car: car["id"])
            result = run.finish(full_snapshot=True)

Pages arrive in order (fetched concurrently ahead of the writer); each page goes to the run
with its number as the checkpoint position, so a resumed run starts at `run.checkpoint.next_page`.
Database work runs in a worker thread, so the event loop keeps fetching while batches commit;
when the run's batches are all in flight, handing over the next page waits (backpressure).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable

from sync_pipeline.engine.checkpoints import Position
from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.pagination import PagedListing, fetch_pages
from sync_pipeline.engine.http.progress import ProgressReporter
from sync_pipeline.engine.sync_run import SyncRun


@dataclass(frozen=True)
class ListingWalk:
    """What a walk fetched: where it started, pages and records, and the upstream's total."""

    start_page: int
    pages: int
    records: int
    upstream_total: int | None
    elapsed_s: float
    first_page_s: float


async def sync_paged_listing(client: ApiClient, listing: PagedListing, run: SyncRun,
                             key: Callable[[dict[str, Any]], Hashable],
                             progress: ProgressReporter | None = None) -> ListingWalk:
    """Fetch every page from the run's checkpoint on and hand each to `run`; returns the walk.

    Raises what the client raises (the run's checkpoint then still points after the last
    committed page) and the first batch error of the run.
    """
    start_page = run.checkpoint.next_page
    started = time.monotonic()
    first_page_s = 0.0
    pages = records = 0
    total: int | None = None
    async for page in fetch_pages(client, listing, key=key, start_page=start_page, progress=progress):
        if pages == 0:
            first_page_s = time.monotonic() - started
            total = page.total
        pages += 1
        records += len(page.records)
        await asyncio.to_thread(run.add_page, page.records, Position(page=page.number))
    return ListingWalk(start_page, pages, records, total, time.monotonic() - started, first_page_s)
