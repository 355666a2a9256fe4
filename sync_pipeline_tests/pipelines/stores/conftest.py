"""Fixtures for the stores pipeline: an upstream and a database of the test's own, and helpers
that run the pipeline the way the Dagster step does (one client, one event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from psycopg_pool import ConnectionPool

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine.http import ApiClient
from sync_pipeline.pipelines.stores import (
    StoreListOutcome,
    StoresRunOutcome,
    StoresSyncSettings,
    sync_store_list,
    sync_stores,
)
from sync_pipeline.pipelines.stores.settings import stores_client_config

STORE_COUNT = 6
SMALL_SIZES = {
    "cars": 10,
    "users": 10,
    "leaderboard_entries": 10,
    "contacts": 10,
    "workspaces": 1,
}
FAST = StoresSyncSettings(users_concurrency=4, videos_concurrency=3, progress_every_s=0.2)


@pytest.fixture
def stores_upstream(upstream_factory):
    return upstream_factory(sizes={**SMALL_SIZES, "stores": STORE_COUNT})


@pytest.fixture
def pool(db_url) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=6, name="test_stores") as opened:
        yield opened


def run_stores(
    pool: ConnectionPool,
    upstream,
    run_id: str,
    settings: StoresSyncSettings = FAST,
    codes: list[str] | None = None,
    rps: float | None = 500.0,
    **kwargs,
) -> tuple[StoreListOutcome | None, StoresRunOutcome]:
    """The store list (unless `codes` are given), then those stores' users and videos."""
    config = stores_client_config(upstream.url, None, settings, rps=rps)

    async def both() -> tuple[StoreListOutcome | None, StoresRunOutcome]:
        async with ApiClient(config, limiter_conninfo=pool_conninfo(pool)) as client:
            listed = None
            if codes is None:
                listed = await sync_store_list(pool, client, run_id)
            chosen = codes if codes is not None else listed.live_codes
            return listed, await sync_stores(pool, client, chosen, run_id, settings, **kwargs)

    return asyncio.run(both())


def pool_conninfo(pool: ConnectionPool) -> str:
    return pool.conninfo


def upstream_records(upstream, path: str) -> list[dict]:
    """Every record of a cursor listing, straight from the upstream."""
    records, cursor = [], None
    with httpx.Client(base_url=upstream.url, timeout=30) as http:
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            body = http.get(path, params=params).json()
            records += body["data"]
            cursor = body["next_cursor"]
            if cursor is None:
                return records
