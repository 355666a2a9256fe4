"""Fixtures for the cars pipeline: a database and an upstream of the test's own, wired through
the environment exactly as a user would configure them."""

from collections.abc import Iterator

import dagster as dg
import pytest

from sync_pipeline.definitions import defs
from sync_pipeline.defs.cars.jobs import CARS_SOURCE_SYNC
from sync_pipeline_tests.run_results import check_results, materialization_metadata  # noqa: F401 (re-exported)

CAR_COUNT = 3000


@pytest.fixture
def cars_upstream(upstream_factory):
    return upstream_factory(
        sizes={
            "cars": CAR_COUNT,
            "users": 10,
            "stores": 1,
            "leaderboard_entries": 10,
            "contacts": 10,
            "workspaces": 1,
        }
    )


@pytest.fixture
def cars_env(monkeypatch, db_url, cars_upstream):
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    monkeypatch.setenv("SYNC_CARS_API_URL", cars_upstream.url)
    monkeypatch.delenv("SYNC_CARS_API_TOKEN", raising=False)
    monkeypatch.setenv("RPS", "500")
    monkeypatch.setenv("PAGE_SIZE", "250")
    return cars_upstream


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def run_cars(
    instance: dg.DagsterInstance,
    *,
    full_refresh: bool = False,
    partition: str | None = None,
    **config,
) -> dg.ExecuteInProcessResult:
    """Materialize the cars assets through Dagster, as the UI or `sync-pipeline sync` would."""
    job = defs.resolve_job_def("cars_sync_job")
    op_config = {**config, "full_refresh": full_refresh}
    run_config = {"ops": {"cars_sync": {"config": op_config}}}
    tags = CARS_SOURCE_SYNC.full_refresh_tags() if full_refresh else {}
    key = None if full_refresh else partition
    return job.execute_in_process(
        instance=instance, run_config=run_config, tags=tags, partition_key=key, raise_on_error=False
    )
