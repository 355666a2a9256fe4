"""Fixtures for the pvp pipeline: a reference upstream of the module's own (small boards, data
reset for every test, so a test may mutate it), a pool on the test's database, and a client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine.http import ApiClient, ClientConfig
from sync_pipeline.pipelines.pvp.settings import PvpSettings
from sync_pipeline.upstream.process import UpstreamProcess

ENTRIES = 100
SEED = 16
SIZES = {
    "cars": 10,
    "users": 10,
    "stores": 1,
    "leaderboard_entries": ENTRIES,
    "contacts": 10,
    "workspaces": 1,
}
SETTINGS = PvpSettings(sync_threads=4, processing_threads=8, equipment_batch=50)


@pytest.fixture(scope="module")
def pvp_upstream_process() -> Iterator[UpstreamProcess]:
    with UpstreamProcess(profile="none", seed=SEED, sizes=SIZES) as server:
        yield server


@pytest.fixture
def pvp_upstream(pvp_upstream_process) -> UpstreamProcess:
    """The module's upstream with fresh data and stats, so a test may mutate it."""
    pvp_upstream_process.admin("reset", {"seed": SEED, "sizes": SIZES})
    pvp_upstream_process.admin("stats/reset", {})
    return pvp_upstream_process


@pytest.fixture
def pool(db_url) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=8, name="pvp_test") as opened:
        yield opened


def client_config(upstream) -> ClientConfig:
    return ClientConfig(
        base_url=upstream.url, name="pvp", rps=None, concurrency=8, transport="httpx"
    )


def run_with_client(upstream, work) -> Any:
    """`await work(client)` with a fresh client on its own event loop."""

    async def main():
        async with ApiClient(client_config(upstream)) as client:
            return await work(client)

    return asyncio.run(main())


def new_run_id() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def equipment_requests(upstream) -> int:
    """Equipment calls the upstream received so far (every answer, 404s included)."""
    endpoint = upstream.admin("stats").get("endpoints", {}).get("pvp.equipment")
    return endpoint["requests"] if endpoint else 0
