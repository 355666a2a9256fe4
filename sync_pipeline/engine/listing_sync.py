"""Walk a paged list endpoint into a `SyncRun`: the loop every page-style source shares.

    async with ApiClient(config) as client:
        layout = listing_layout(listing.page_size, listing.params)  # what its pages count in
        with SyncRun(
            pool, CARS, pipeline="cars", partition=key, run_id=run_id, layout=layout
        ) as run:
            walk = await sync_paged_listing(client, listing, run, key=lambda car: car["id"])
            result = run.finish(full_snapshot=True)

Pages arrive in order (fetched concurrently ahead of the writer); each page goes to the run
with its number as the checkpoint position, so a resumed run starts at `run.checkpoint.next_page`.
A full snapshot also tells which stored keys it did not see are really gone (see
`listing_coverage`), re-reading the page boundaries records may have slipped across.
Database work runs in a worker thread, so the event loop keeps fetching while batches commit;
when the run's batches are all in flight, handing over the next page waits (backpressure).

A walk allocates millions of short-lived containers (parsed records) while tens of thousands of
them are alive at any moment (pages in flight, the batch being written), which makes CPython's
default collector thresholds (700, 10, 10) run young collections every few hundred records and full
collections every few pages: measured on 200k cars in pages of 1000, about half of the client's
CPU (unchanged re-sync 3.0 s of CPU, 1.9 s without; first load 5.0 s, 3.3 s). `relaxed_gc()`
raises the thresholds for the duration of a walk; the records are acyclic and freed by their
reference counts, so garbage does not pile up in between.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sync_pipeline.engine.checkpoints import Position, listing_layout
from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.page import Page
from sync_pipeline.engine.http.pagination import PagedListing, fetch_page, fetch_pages
from sync_pipeline.engine.http.progress import ProgressReporter
from sync_pipeline.engine.listing_coverage import KeyCoverage, PageKeys
from sync_pipeline.engine.records import Key, RecordRejected, key_reader
from sync_pipeline.engine.sync_run import SyncRun

RELAXED_GC_THRESHOLDS = (200_000, 20, 100)
# Rounds of re-reads in a row that may decide nothing before the walk gives up on the rest
# (a listing that keeps moving), and the rounds it may take in all (a round that decides
# something resets the first count: each one decides at least the first key of every run in a
# listing that stopped moving).
REREAD_ROUNDS = 4
MAX_REREAD_ROUNDS = 32
LOCATE_READS = 24
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Collect cyclic garbage less often while the block runs (young generation every 200,000
    net container allocations instead of 700, full collections practically never).

    Process-wide and re-entrant: the first block to enter saves the thresholds, the last one to
    leave restores them, so concurrent walks in one process share one setting.
    """
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(
                *(max(mine, saved) for mine, saved in zip(RELAXED_GC_THRESHOLDS, _gc_saved))
            )
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


@dataclass(frozen=True)
class ListingWalk:
    """What a walk fetched: where it started (`skipped_records`: the listing's records before
    that point, committed by an earlier run), pages and records, and the upstream's total (as
    the last page read reported it). For a full snapshot also what became of the stored keys it
    did not see: `proven_gone`, and `undecided` ones (with why) after `reread_pages` re-reads."""

    start_page: int
    pages: int
    records: int
    upstream_total: int | None
    elapsed_s: float
    first_page_s: float
    proven_gone: int = 0
    undecided: tuple[Key, ...] = ()
    undecided_reason: str | None = None
    reread_pages: int = 0
    skipped_records: int = 0


async def sync_paged_listing(
    client: ApiClient,
    listing: PagedListing,
    run: SyncRun,
    key: Callable[[dict[str, Any]], Hashable],
    progress: ProgressReporter | None = None,
    full_snapshot: bool = False,
) -> ListingWalk:
    """Fetch every page from the run's checkpoint on and hand each to `run`; returns the walk.

    `full_snapshot`: the listing is sorted by the spec's key and the run will delist what it
    did not see; the walk then sorts the stored keys it missed into proven gone and undecided
    (re-reading the pages around the undecided keys, `settle_missing`), so that
    `run.finish(full_snapshot=True, undecided=walk.undecided, ...)` never delists a live record.
    Raises `ValueError` when the run's layout is not this listing's (its checkpoint would be
    read in the wrong units), what the client raises (the run's checkpoint then still points
    after the last committed page) and the first batch error of the run.
    """
    walked = listing_layout(listing.page_size, listing.params)
    if run.layout != walked:
        raise ValueError(
            f"{run.pipeline}/{run.partition}: the run's layout {run.layout} is not the walk's "
            f"{walked}; pass SyncRun(layout=listing_layout(listing.page_size, listing.params))"
        )
    start_page, skip = run.checkpoint.next_page, run.checkpoint.skip_records
    started = time.monotonic()
    first_page_s = 0.0
    pages = records = 0
    total: int | None = None
    coverage = KeyCoverage()
    read_key = key_reader(run.spec)
    position = Position(page=start_page - 1)
    covering = full_snapshot and start_page == 1 and skip == 0  # a walk from the listing's start
    with relaxed_gc():
        async for page in fetch_pages(
            client, listing, key=key, start_page=start_page, progress=progress
        ):
            if pages == 0:
                first_page_s = time.monotonic() - started
                page = replace(
                    page, records=page.records[skip:]
                )  # committed under another page size
            total = page.total if page.total is not None else total
            pages += 1
            records += len(page.records) - page.replaced
            position = Position(page=page.number)
            if covering:
                coverage.add_page(page_keys(page, read_key))
            await asyncio.to_thread(run.add_page, page.records, position)
    walk = ListingWalk(
        start_page,
        pages,
        records,
        total,
        time.monotonic() - started,
        first_page_s,
        skipped_records=(start_page - 1) * listing.page_size + skip,
    )
    if covering:

        async def hand_over(found: list[Any]) -> list[Key]:
            await asyncio.to_thread(run.add_page, found, position)
            return await asyncio.to_thread(run.missing_keys)

        window = client.config.concurrency + client.config.max_queue
        settled = await settle_missing(
            lambda asked, n: fetch_page(client, asked, n),
            listing,
            coverage,
            read_key,
            hand_over,
            window,
        )
        walk = replace(
            walk,
            upstream_total=settled.total or walk.upstream_total,
            proven_gone=settled.gone,
            undecided=settled.undecided,
            undecided_reason=settled.reason,
            reread_pages=settled.reread,
        )
    return walk


@dataclass(frozen=True)
class Settlement:
    """What became of the stored keys a walk missed: `gone` proven, `undecided` (with why)."""

    gone: int
    undecided: tuple[Key, ...]
    reason: str | None
    reread: int
    total: int | None


async def settle_missing(
    fetch: Callable[[PagedListing, int], Awaitable[Page]],
    listing: PagedListing,
    coverage: KeyCoverage,
    read_key: Callable[[Any], Key],
    hand_over: Callable[[list[Any]], Awaitable[list[Key]]],
    window: int = 1,
) -> Settlement:
    """Sort the missed stored keys into gone and undecided, re-reading page boundaries.

    `hand_over(records)` gives re-read records to the run (newest copies) and answers the stored
    keys still missing; `fetch(listing, number)` reads one page now. Rounds go on while they
    decide keys, until `REREAD_ROUNDS` in a row decide none or `MAX_REREAD_ROUNDS` were read;
    each locates, for every run of undecided keys with no seen key between them
    (`KeyCoverage.runs_of`), where the first of them sits now (`locate`), up to `window` runs at
    once.
    """
    gone, undecided = coverage.split(await hand_over([]))
    rounds = reread = stalled = 0
    total: int | None = None
    gate = asyncio.Semaphore(window)

    async def read(asked: PagedListing, number: int) -> Page:
        async with gate:
            return await fetch(asked, number)

    while (
        undecided
        and coverage.withdrawn is None
        and stalled < REREAD_ROUNDS
        and rounds < MAX_REREAD_ROUNDS
    ):
        rounds += 1
        before = len(undecided)
        firsts = [run[0] for run in coverage.runs_of(undecided)]
        found = await asyncio.gather(
            *(locate(read, listing, read_key, key, coverage.gaps_of([key])[0]) for key in firsts)
        )
        fetched: list[Any] = []
        for asked, page in (read_page for pages in found for read_page in pages):
            reread += 1
            total = page.total if page.total is not None else total
            coverage.add_page(
                page_keys(page, read_key), page_size_of_walk=asked.page_size == listing.page_size
            )
            fetched.extend(page.records)
        gone, undecided = coverage.split(await hand_over(fetched))
        stalled = stalled + 1 if len(undecided) >= before else 0
    reason = None
    if undecided:
        reason = (
            f"{coverage.withdrawn}, so missing keys cannot be told gone from shifted"
            if coverage.withdrawn
            else f"still between two pages after {rounds} rounds of re-reads around them"
        )
    return Settlement(len(gone), tuple(undecided), reason, reread, total)


async def locate(
    fetch: Callable[[PagedListing, int], Awaitable[Page]],
    listing: PagedListing,
    read_key: Callable[[Any], Key],
    key: Key,
    start: int,
) -> list[tuple[PagedListing, Page]]:
    """Read pages (in the walk's size) from `start` on, galloping then bisecting, until one
    decides `key` (holds it, or proves it absent); when `key` falls between two pages read
    now, also read the page of another size that holds that boundary. Returns the pages read."""
    pages: list[tuple[PagedListing, Page]] = []
    low, high, low_known = 1, None, False  # the page holding the key's spot is in [low, high]
    number, step = max(start, 1), 1
    for _ in range(LOCATE_READS):
        page = await fetch(listing, number)
        pages.append((listing, page))
        keys = page_keys(page, read_key)
        if decides(keys, key) or (not keys.keys and page.served):
            return pages
        if not keys.keys or key < keys.keys[0]:
            high = number - 1
        else:
            low, low_known = number + 1, True
        if high is not None and low > high:
            if high < 1:  # only an unsorted page 1 gets here
                return pages
            pages.append(straddling_page(listing, high))
            pages[-1] = (pages[-1][0], await fetch(*pages[-1]))
            return pages
        if high is not None and low_known:
            number = (low + high) // 2
        elif high is None:
            number, step = number + step, step * 2
        else:
            number, step = max(low, high - step + 1), step * 2
    return pages


def decides(page: PageKeys, key: Key) -> bool:
    """Whether `page` holds `key` or proves it absent (see `KeyCoverage`)."""
    keys = page.keys
    if not keys:
        return page.number == 1 and page.served == 0
    return (keys[0] <= key or page.number == 1) and (key <= keys[-1] or page.ends_listing)


def straddling_page(listing: PagedListing, gap: int) -> tuple[PagedListing, int]:
    """A page of another size that holds the boundary after page `gap` (offsets B-1 and B)
    inside it: the key a still listing has between two pages is proven there or absent."""
    boundary, size = gap * listing.page_size, listing.page_size
    candidates = (
        s for delta in range(1, boundary + 1) for s in (size - delta, size + delta) if s >= 2
    )
    other = next(s for s in candidates if boundary % s)  # boundary + 1 always qualifies
    return replace(listing, page_size=other), (boundary - 1) // other + 1


def page_keys(page: Page, read_key: Callable[[Any], Key]) -> PageKeys:
    """The readable keys of `page` in served order (unreadable ones are the loader's to reject)."""
    keys = []
    for record in page.records:
        try:
            keys.append(read_key(record))
        except RecordRejected:
            continue
    return PageKeys(page.number, keys, page.page_size, page.served)
