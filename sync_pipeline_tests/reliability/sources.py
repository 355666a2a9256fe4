"""Run each source's pipeline the way its Dagster step does (one client, one event loop) and
read its upstream truth, for the reliability cases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient, ClientConfig
from sync_pipeline.pipelines.cars import CarsScope, CarsSyncOutcome, CarsSyncSettings, sync_cars
from sync_pipeline.pipelines.contacts import ContactsSyncSettings, list_workspaces, sync_workspace
from sync_pipeline.pipelines.pvp.leaderboard import Board
from sync_pipeline.pipelines.pvp.settings import PvpSettings
from sync_pipeline.pipelines.pvp.sync import sync_boards
from sync_pipeline.pipelines.stores import StoresSyncSettings, sync_store_list, sync_stores
from sync_pipeline.pipelines.stores.settings import stores_client_config
from sync_pipeline.pipelines.users.backfill import BackfillSettings, backfill_details
from sync_pipeline.pipelines.users.reconcile import ReconcileScope, reconcile_users
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.reliability.faults import quick

CARS_SETTINGS = CarsSyncSettings(page_size=40, batch_size=200, parallel_batches=2)
CONTACTS_SETTINGS = ContactsSyncSettings(page_size=50, batch_size=120, full_refresh=True)
STORES_SETTINGS = StoresSyncSettings(users_concurrency=4, videos_concurrency=3)
PVP_SETTINGS = PvpSettings(sync_threads=2, processing_threads=8, equipment_batch=50)


def new_run_id() -> str:
    return f"reliability-{uuid.uuid4().hex[:10]}"


def with_client(
    config: ClientConfig, pool: ConnectionPool, work: Callable[[ApiClient], Awaitable[Any]]
) -> Any:
    """`await work(client)` with a fresh client (quick retry clock) on its own event loop."""

    async def main() -> Any:
        async with ApiClient(quick(config), limiter_conninfo=pool.conninfo) as client:
            return await work(client)

    return asyncio.run(main())


def cars_full_refresh(pool: ConnectionPool, server: UpstreamProcess) -> CarsSyncOutcome:
    config = ClientConfig(base_url=server.url, name="cars", rps=None, concurrency=6, max_queue=6)
    return with_client(
        config,
        pool,
        lambda client: sync_cars(
            pool, client, CarsScope.full_refresh(), new_run_id(), CARS_SETTINGS
        ),
    )


def contacts_full_refresh(pool: ConnectionPool, server: UpstreamProcess) -> list[Any]:
    """A full run of every workspace; the outcomes in workspace order."""
    config = ClientConfig(base_url=server.url, name="contacts", rps=None)

    async def every_workspace(client: ApiClient) -> list[Any]:
        run_id = new_run_id()
        return [
            await sync_workspace(pool, client, workspace, run_id, CONTACTS_SETTINGS)
            for workspace in await list_workspaces(client)
        ]

    return with_client(config, pool, every_workspace)


def stores_full_run(pool: ConnectionPool, server: UpstreamProcess) -> tuple[Any, Any]:
    """The store list, then every listed store's users and videos in one run."""
    config = stores_client_config(server.url, None, STORES_SETTINGS, rps=None, shared=False)

    async def both(client: ApiClient) -> tuple[Any, Any]:
        run_id = new_run_id()
        listed = await sync_store_list(pool, client, run_id)
        return listed, await sync_stores(pool, client, listed.live_codes, run_id, STORES_SETTINGS)

    return with_client(config, pool, both)


def pvp_board(pool: ConnectionPool, server: UpstreamProcess, board: Board, run_id: str) -> Any:
    """One board's leaderboard, then its equipment, as run `run_id`."""
    config = ClientConfig(base_url=server.url, name="pvp", rps=None, concurrency=8)
    return with_client(
        config, pool, lambda client: sync_boards(pool, client, [board], run_id, PVP_SETTINGS)
    )


def users_full_sync(pool: ConnectionPool, server: UpstreamProcess) -> None:
    """What a fresh install does: bootstrap from the list, backfill every detail, then a
    full-refresh reconcile (which delists the users that vanished meanwhile)."""
    list_config = ClientConfig(base_url=server.url, name="users.list", rps=None)
    detail_config = ClientConfig(base_url=server.url, name="users.detail", rps=None)

    async def sync(list_client: ApiClient) -> None:
        async with ApiClient(quick(detail_config)) as detail_client:
            scope = ReconcileScope.full_refresh()
            await reconcile_users(pool, list_client, detail_client, scope, new_run_id())
            # Small batches: the kill tests stop the worker at a count of stored details, which
            # must move in steps small beside the number still to fetch.
            backfill = BackfillSettings(run_size=100_000, write_batch=10, flush_every_s=1.0)
            await backfill_details(pool, detail_client, new_run_id(), backfill)
            await reconcile_users(pool, list_client, detail_client, scope, new_run_id())

    with_client(list_config, pool, sync)
