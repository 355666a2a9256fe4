"""Under the hostile profile every record is fetched exactly once, with either transport.

Hostile means, per attempt: 429 storms (Retry-After in seconds or as a date), 5xx, read timeouts,
dropped connections, truncated or non-JSON bodies, and later pages that repeat the record before
them. The walk must hand over each record once, and the same records a calm upstream serves.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.config import Timeouts
from sync_pipeline.engine.http.pagination import PagedListing, fetch_cursor_pages, fetch_pages
from sync_pipeline.upstream.auth import token_label
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES

HOSTILE = {
    "rps": 20.0,
    "burst": 1,
    "concurrency": 8,
    "max_queue": 8,
    "throttle_slow_for_s": 3.0,
    "timeouts": Timeouts(connect_s=2, read_s=0.4, pool_s=10),
}
# Page sizes per transport: fault draws are fixed per (token, request), and with these every kind
# of fault is met at least once (the test checks that it was).
PAGE_SIZES = {"aiohttp": 50, "httpx": 100}


@pytest.fixture(scope="module")
def hostile_upstream():
    with UpstreamProcess(profile="hostile", seed=1, sizes=TEST_UPSTREAM_SIZES) as server:
        server.admin("faults", {"source": "*", "timeout_s": 1.0, "storm_s": [0.2, 0.6]})
        yield server


def all_car_ids(calm: UpstreamProcess) -> list[Any]:
    """Every car id, from a calm upstream with the same seed and sizes (oddities never touch
    ids)."""
    pages = [
        httpx.get(f"{calm.url}/cars", params={"page_size": 1000, "page": p}).json()
        for p in range(1, 6)
    ]
    return [car["id"] for page in pages for car in page["items"]]


def test_every_car_once_plus_only_newer_copies(
    hostile_upstream, upstream, quick_config, transport_name
):
    token = f"hostile-{transport_name}-{PAGE_SIZES[transport_name]}"
    config = quick_config(hostile_upstream.url, token=token, transport=transport_name, **HOSTILE)
    cars = PagedListing("/cars", "items", "page_size", PAGE_SIZES[transport_name])

    async def run() -> tuple[list[Any], int, ApiClient]:
        async with ApiClient(config) as client:
            pages = [p async for p in fetch_pages(client, cars, lambda c: c["id"])]
            return (
                [c["id"] for p in pages for c in p.records],
                sum(p.replaced for p in pages),
                client,
            )

    ids, replaced, client = asyncio.run(run())
    stats = hostile_upstream.admin("stats")["endpoints"]["cars.list"]["tokens"][token_label(token)]
    faults = stats["faults"]
    assert len(ids) - replaced == len(set(ids)) == 5000, (
        "a repeat is passed on only as a newer copy"
    )
    assert sorted(set(ids)) == sorted(all_car_ids(upstream))
    assert client.metrics.duplicates_dropped == faults.get("shifted", 0) > 0
    assert client.metrics.throttled == stats["throttled"] > 0
    injected = {k for k, n in faults.items() if n} - {"shifted", "storm_started", "storm_429"}
    assert {"timeout", "dropped"} <= injected and injected & {"truncated", "not_json"}
    assert any(k.startswith("http_5") for k in injected)
    retried = client.metrics.retries
    assert (
        retried["timeout"]
        and retried["connection"]
        and retried["malformed"]
        and retried["server_error"]
    )


def test_every_store_exactly_once_on_a_cursor_walk(hostile_upstream, quick_config):
    config = quick_config(hostile_upstream.url, token="hostile-stores", **HOSTILE)

    async def run() -> tuple[list[str], int]:
        async with ApiClient(config) as client:
            codes = [
                s["code"]
                async for p in fetch_cursor_pages(client, "/stores", lambda s: s["code"], limit=2)
                for s in p.records
            ]
            return codes, client.metrics.duplicates_dropped

    codes, duplicates = asyncio.run(run())
    assert len(codes) == len(set(codes)) == 12
    assert duplicates == hostile_upstream.admin("stats")["endpoints"]["stores.list"]["faults"].get(
        "shifted", 0
    )
