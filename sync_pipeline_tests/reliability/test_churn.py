"""A full refresh while the upstream deletes and inserts cars never delists a live one.

The walk runs against the hostile profile (faults, 429 storms, shifted pages, odd records) while
`/_admin/churn` deletes and inserts cars: deletions move every later record back, so records at
page boundaries slip between two pages. Cars deleted before the walk must be delisted by it;
cars live for the whole walk must stay live; a second full refresh leaves the table equal to
upstream with nothing quarantined that PostgreSQL can store, record by record.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.config import ClientConfig, Timeouts
from sync_pipeline.engine.sanitize import strip_nul
from sync_pipeline.entities.cars import CARS
from sync_pipeline.pipelines.cars import CarsScope, CarsSyncSettings, sync_cars
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.defs.cars.upstream_compare import (
    business_fields,
    stored_cars,
    upstream_cars,
)
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.truth import compare, page_records, read_truth

CAR_COUNT = 2000
SEED = 5
CLIENT = {
    "rps": 60.0,
    "burst": 1,
    "concurrency": 6,
    "max_queue": 6,
    "backoff_base_s": 0.02,
    "backoff_cap_s": 0.2,
    "max_attempts": 12,
    "total_budget_s": 60.0,
    "breaker_threshold": 200,
    "breaker_open_s": 0.5,
    "throttle_slow_for_s": 1.0,
    "timeouts": Timeouts(connect_s=2, read_s=0.5, pool_s=10),
}
SETTINGS = CarsSyncSettings(page_size=40, batch_size=200, parallel_batches=2)


@pytest.fixture
def hostile_cars(fresh_upstream) -> UpstreamProcess:
    return fresh_upstream(SEED, cars=CAR_COUNT)


def make_hostile(server: UpstreamProcess) -> None:
    server.admin(
        "faults", {"source": "*", "profile": "hostile", "timeout_s": 0.6, "storm_s": [0.1, 0.3]}
    )


def upstream_now(server: UpstreamProcess) -> dict[int, dict]:
    """The catalogue as a hostile walk stores it (oddities served, NULs stripped), read with
    faults and limits off so that the reference read itself cannot meet a 429 or a broken body."""
    server.admin("faults", {"source": "cars", "profile": "none", "data_oddities": True})
    return {i: strip_nul(car)[0] for i, car in upstream_cars(server.url).items()}


def full_refresh(db_url, server: UpstreamProcess):
    async def run():
        async with ApiClient(ClientConfig(base_url=server.url, **CLIENT)) as client:
            return await sync_cars(
                pool, client, CarsScope.full_refresh(), uuid.uuid4().hex, SETTINGS
            )

    with open_pool(db_url, max_size=4, name="churn_test") as pool:
        return asyncio.run(run())


def live_and_delisted(db_url) -> tuple[set[int], set[int]]:
    with psycopg.connect(db_url.conninfo()) as conn:
        rows = conn.execute("SELECT id, deleted_at IS NULL FROM cars").fetchall()
    return {i for i, live in rows if live}, {i for i, live in rows if not live}


def quarantined_reasons(db_url, run_id: str) -> dict[int, str]:
    """The cars the run quarantined, with why."""
    with psycopg.connect(db_url.conninfo()) as conn:
        return dict(
            conn.execute(
                "SELECT record_key::bigint, reason FROM sync_quarantine WHERE run_id = %s",
                (run_id,),
            ).fetchall()
        )


def test_churn_during_a_full_refresh_never_delists_a_live_car(db_url, db, hostile_cars, figures):
    assert full_refresh(db_url, hostile_cars).result.inserted > 0
    gone_before = set(hostile_cars.admin("mutate", {"source": "cars", "delete": 0.004})["deleted"])
    walk_start = upstream_now(hostile_cars)
    make_hostile(hostile_cars)
    hostile_cars.admin(
        "churn",
        {"source": "cars", "seconds": 60, "per_second": {"delete": 12, "insert": 5, "update": 10}},
    )
    started = time.monotonic()
    outcome = full_refresh(db_url, hostile_cars)
    walk_s = time.monotonic() - started
    churned = hostile_cars.admin("churn/stop", {})
    deleted_during, updated_during = set(churned["deleted"]), set(churned["updated"])
    assert len(deleted_during) >= 20, f"the churn must overlap the walk ({walk_s:.1f} s)"

    live, delisted = live_and_delisted(db_url)
    quarantined = quarantined_reasons(db_url, outcome.result.checkpoint.run_id)
    assert all("expected an integer" in r for r in quarantined.values()), (
        "only what PostgreSQL cannot store"
    )
    live_throughout = set(walk_start) - deleted_during - set(quarantined)
    assert not live_throughout & delisted, "a car live during the whole walk was delisted"
    assert live_throughout <= live
    assert gone_before <= delisted, "cars deleted before the walk are delisted by it"
    assert outcome.result.snapshot.refused is None
    assert outcome.walk.proven_gone >= len(gone_before)
    unchanged = live_throughout - updated_during
    stored = stored_cars(db_url.conninfo())
    assert business_fields({i: stored[i] for i in unchanged}) == business_fields(
        {i: walk_start[i] for i in unchanged}
    ), "a car nobody changed during the walk is stored as served"

    make_hostile(hostile_cars)
    settled = full_refresh(db_url, hostile_cars)
    upstream = upstream_now(hostile_cars)
    stored = stored_cars(db_url.conninfo())
    quarantined = quarantined_reasons(db_url, settled.result.checkpoint.run_id)
    assert quarantined and all("expected an integer" in r for r in quarantined.values()), (
        quarantined
    )
    assert set(stored) <= set(upstream), "no delisted car left live"
    assert set(upstream) - set(stored) <= set(quarantined), "every loadable car is live"
    loadable = set(upstream) - set(quarantined)  # quarantined ones keep their last loadable version
    assert business_fields({i: stored[i] for i in loadable}) == business_fields(
        {i: upstream[i] for i in loadable}
    )
    assert settled.result.sanitized_values > 0
    truth = read_truth(hostile_cars, "cars", lambda: page_records(hostile_cars.url, "/cars"))
    changes = sum(len(churned[kind]) for kind in ("deleted", "inserted", "updated"))
    assert_exact(
        figures,
        "upstream churn during a full refresh",
        changes + len(gone_before),
        compare(db, CARS, truth, SEED, "cars"),
    )
