"""Fixtures for the stores source through Dagster: a database, an upstream and an instance of
the test's own, wired through the environment as a user would configure them."""

from collections.abc import Iterator

import dagster as dg
import httpx
import pytest

from sync_pipeline.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sync_pipeline.definitions import defs
from sync_pipeline.defs.stores.jobs import STORES_SOURCE_SYNC
from sync_pipeline.defs.stores.partitions import registered_store_codes

STORE_COUNT = 12
SMALL_SIZES = {"cars": 10, "users": 10, "leaderboard_entries": 10, "contacts": 10, "workspaces": 1}


@pytest.fixture
def stores_upstream(upstream_factory):
    return upstream_factory(sizes={**SMALL_SIZES, "stores": STORE_COUNT})


@pytest.fixture
def stores_env(monkeypatch, db_url):
    """Point the stores source at `upstream` (a started reference upstream) and this test's db."""

    def point_at(upstream):
        monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
        monkeypatch.setenv("SYNC_STORES_API_URL", upstream.url)
        monkeypatch.delenv("SYNC_STORES_API_TOKEN", raising=False)
        monkeypatch.setenv("STORES_RPS", "500")
        monkeypatch.setenv("SYNC_CONCURRENCY", "4")
        monkeypatch.setenv("VIDEO_SYNC_CONCURRENCY", "3")
        monkeypatch.setenv("DB_POOL_SIZE", "6")
        return upstream

    return point_at


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def run_list(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return STORES_SOURCE_SYNC.execute_list(instance)


def run_stores(
    instance: dg.DagsterInstance, partition: str | None = None, **config
) -> dg.ExecuteInProcessResult:
    """One `stores_sync_job` run: the store `partition`, or every registered store (one run)."""
    job = defs.resolve_job_def("stores_sync_job")
    tags: dict[str, str] = {}
    if partition is None:
        codes = registered_store_codes(instance)
        tags = {ASSET_PARTITION_RANGE_START_TAG: codes[0], ASSET_PARTITION_RANGE_END_TAG: codes[-1]}
    run_config = {"ops": {"stores_sync": {"config": config}}} if config else {}
    return job.execute_in_process(
        instance=instance,
        run_config=run_config,
        tags=tags,
        partition_key=partition,
        raise_on_error=False,
    )


def materialized(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


def store_materializations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict]:
    """Partition -> plain metadata of the run's materializations of `asset`."""
    found = {}
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization
        if m.asset_key.to_user_string() == asset:
            found[m.partition] = {k: v.value for k, v in m.metadata.items()}
    return found


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
