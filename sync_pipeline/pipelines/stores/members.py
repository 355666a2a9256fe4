"""One store's users or videos: walk `/stores/{code}/users|videos`, write that store's rows.

A store is small (a few hundred records, 2-4 pages), so its pages are gathered first and then
written as one full snapshot of the store's scope (`SyncRun` with `store_code` as scope): the
database is held for milliseconds per store instead of for the seconds its pages take, which
is what lets 50 stores be fetched at once on a pool of 20 connections. An interrupted store is
simply fetched again by the next run; its unchanged rows are not rewritten.

A store whose calls fail (e.g. `403 store_token_expired`) fails alone: `StoreOutcome.reason`
says why, and nothing of that store is written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from urllib.parse import quote

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.checkpoints import CheckpointLost, Position, listing_layout
from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.http import (
    ApiClient,
    ApiError,
    RequestRejected,
    fetch_cursor_pages,
)
from sync_pipeline.engine.scope_lock import ScopeBusy
from sync_pipeline.engine.sync_result import SyncResult
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline.entities.stores import STORE_USERS, STORE_VIDEOS

STORE_FAILURES = (ApiError, ScopeBusy, CheckpointLost)
"""Errors that fail one store and let the others go on; anything else fails the run."""


@dataclass(frozen=True)
class MemberListing:
    """A per-store list endpoint and the table it fills; `job_name` names it in `sync_logs`."""

    job_name: str
    path_suffix: str
    spec: EntitySpec

    def path(self, code: str) -> str:
        return f"/stores/{quote(code, safe='')}/{self.path_suffix}"


STORE_USER_LISTING = MemberListing("store_users", "users", STORE_USERS)
STORE_VIDEO_LISTING = MemberListing("store_videos", "videos", STORE_VIDEOS)
LISTINGS = {listing.job_name: listing for listing in (STORE_USER_LISTING, STORE_VIDEO_LISTING)}


@dataclass
class StoreOutcome:
    """One store's run of one job: its records and change set, or why it failed."""

    code: str
    job_name: str
    reason: str | None
    records: int
    pages: int
    duration_s: float
    result: SyncResult | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


async def fetch_members(
    client: ApiClient,
    listing: MemberListing,
    code: str,
    page_size: int,
    on_page: Callable[[], None] | None = None,
) -> tuple[list[dict], int]:
    """Every record of one store's listing, and the number of pages; raises what the client
    raises (a 404, i.e. a store gone since the list was read, as `MalformedBody`)."""
    records: list[dict] = []
    pages = 0
    async for page in fetch_cursor_pages(
        client, listing.path(code), key=itemgetter("id"), limit=page_size
    ):
        records.extend(page.records)
        pages += 1
        if on_page is not None:
            on_page()
    return records, pages


def write_members(
    pool: ConnectionPool,
    listing: MemberListing,
    code: str,
    records: list[dict],
    pages: int,
    run_id: str,
    page_size: int,
) -> SyncResult:
    """Write one store's records as a full snapshot of its scope; returns the change set."""
    with SyncRun(
        pool,
        listing.spec,
        pipeline=listing.job_name,
        partition=code,
        run_id=run_id,
        scope={"store_code": code},
        options=WriteOptions(parallel_batches=1),
        layout=listing_layout(page_size),
    ) as run:
        run.add_page(records, Position(page=pages))
        return run.finish(full_snapshot=True)


async def sync_store_members(
    pool: ConnectionPool,
    client: ApiClient,
    listing: MemberListing,
    code: str,
    run_id: str,
    page_size: int,
    writers: asyncio.Semaphore,
    on_page: Callable[[], None] | None = None,
) -> StoreOutcome:
    """Fetch and write one store's listing; a `STORE_FAILURES` error becomes the outcome's
    reason."""
    started = time.monotonic()
    records: list[dict] = []
    pages = 0
    try:
        records, pages = await fetch_members(client, listing, code, page_size, on_page)
        async with writers:
            result = await asyncio.to_thread(
                write_members, pool, listing, code, records, pages, run_id, page_size
            )
    except STORE_FAILURES as exc:
        return StoreOutcome(
            code,
            listing.job_name,
            failure_reason(exc),
            len(records),
            pages,
            time.monotonic() - started,
        )
    return StoreOutcome(
        code,
        listing.job_name,
        None,
        len(records),
        pages,
        time.monotonic() - started,
        result,
    )


def failure_reason(exc: BaseException) -> str:
    """`store_token_expired (HTTP 403): <upstream message>` for a rejected call, else the error."""
    if isinstance(exc, RequestRejected) and exc.code:
        message = f": {exc.upstream_message}" if exc.upstream_message else ""
        return f"{exc.code} (HTTP {exc.status}){message}"
    return f"{type(exc).__name__}: {exc}"
