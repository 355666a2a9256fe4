"""Every pagination style of the contract, walked against the reference upstream."""

from __future__ import annotations

import asyncio
from typing import Any

from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.page import Page
from sync_pipeline.engine.http.pagination import PagedListing, fetch_cursor_pages, fetch_pages
from sync_pipeline.engine.http.progress import ProgressReporter

CARS = PagedListing("/cars", "items", "page_size", 300)


def by_id(record: dict[str, Any]) -> Any:
    return record["id"]


def walk(
    config, listing: PagedListing, start_page: int = 1
) -> tuple[list[Page], ApiClient, ProgressReporter]:
    async def run():
        async with ApiClient(config) as client:
            async with ProgressReporter(client.metrics, "cars", bar=False) as progress:
                pages = [
                    p
                    async for p in fetch_pages(
                        client, listing, by_id, start_page=start_page, progress=progress
                    )
                ]
            return pages, client, progress

    return asyncio.run(run())


def test_cars_pages_come_in_order_whole_and_once(upstream, quick_config):
    pages, client, progress = walk(quick_config(upstream.url, concurrency=4, max_queue=2), CARS)
    assert [p.number for p in pages] == list(range(1, 18))
    ids = [car["id"] for p in pages for car in p.records]
    assert len(ids) == len(set(ids)) == 5000 and ids == sorted(ids)
    assert pages[0].total == 5000 and pages[0].last_page == 17
    assert (
        client.metrics.pages == 17
        and client.metrics.rows == 5000
        and client.metrics.duplicates_dropped == 0
    )
    assert progress.total == 5000


def test_resuming_after_a_checkpointed_page_yields_exactly_the_rest(upstream, quick_config):
    config = quick_config(upstream.url, concurrency=4)
    everything, _, _ = walk(config, CARS)
    rest, _, progress = walk(config, CARS, start_page=11)
    assert [p.number for p in rest] == list(range(11, 18))
    assert [c["id"] for p in rest for c in p.records] == [
        c["id"] for p in everything[10:] for c in p.records
    ]
    assert progress.total == 5000 - 10 * 300


def test_users_use_total_pages_and_the_window_parameters(upstream, quick_config):
    listing = PagedListing(
        "/users",
        "data",
        "per_page",
        500,
        {"updated_since": "2026-10-24T00:00:00Z", "updated_until": "2026-11-23T00:00:00Z"},
    )
    pages, _client, _ = walk(quick_config(upstream.url), listing)
    assert pages[0].last_page == 4
    # 2000 users fill page 4 exactly, so one more page is asked for in case users were appended
    # meanwhile
    assert [len(p.records) for p in pages] == [500, 500, 500, 500, 0]
    updated = [u["updated_at"] for p in pages for u in p.records]
    assert len(updated) == pages[0].total and updated == sorted(updated)


def test_cursor_walk_over_stores_then_resume_from_a_cursor(upstream, quick_config):
    async def run(start: str | None) -> list[Page]:
        async with ApiClient(quick_config(upstream.url)) as client:
            return [
                p
                async for p in fetch_cursor_pages(
                    client, "/stores", lambda s: s["code"], limit=5, start_cursor=start
                )
            ]

    pages = asyncio.run(run(None))
    assert [len(p.records) for p in pages] == [5, 5, 2] and pages[-1].next_cursor is None
    codes = [s["code"] for p in pages for s in p.records]
    assert len(set(codes)) == 12 and codes == sorted(codes)
    resumed = asyncio.run(run(pages[0].next_cursor))
    assert [s["code"] for p in resumed for s in p.records] == codes[5:]


def test_cursor_walk_with_filters_over_contacts(upstream, quick_config):
    async def run() -> tuple[list[Page], int]:
        async with ApiClient(quick_config(upstream.url)) as client:
            workspaces = (await client.get_json("/workspaces")).data["data"]
            pages = [
                p
                async for p in fetch_cursor_pages(
                    client,
                    "/contacts",
                    lambda c: c["id"],
                    limit=500,
                    params={"workspace_id": workspaces[0]["id"]},
                )
            ]
            return pages, len(workspaces)

    pages, workspaces = asyncio.run(run())
    contacts = [c for p in pages for c in p.records]
    assert workspaces == 3 and contacts
    assert {c["workspace_id"] for c in contacts} == {pages[0].records[0]["workspace_id"]}


def test_records_appended_during_the_walk_are_not_lost(own_upstream, quick_config):
    listing = PagedListing("/cars", "items", "page_size", 300)

    async def run() -> list[int]:
        async with ApiClient(quick_config(own_upstream.url, concurrency=1, max_queue=0)) as client:
            ids = []
            async for page in fetch_pages(client, listing, by_id):
                if page.number == 1:
                    await asyncio.to_thread(
                        own_upstream.admin, "mutate", {"source": "cars", "insert": 350}
                    )
                ids += [c["id"] for c in page.records]
            return ids

    async def everything() -> list[int]:
        async with ApiClient(quick_config(own_upstream.url)) as client:
            return [c["id"] async for p in fetch_pages(client, listing, by_id) for c in p.records]

    try:
        walked = asyncio.run(run())
        now_there = asyncio.run(everything())
    finally:
        own_upstream.admin("reset", {"seed": 1, "sizes": own_upstream.sizes})
    assert len(now_there) == 5350
    assert walked == now_there
