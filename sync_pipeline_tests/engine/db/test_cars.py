"""The cars entity end to end: its spec matches sql/003_cars.sql, and contract records load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from sync_pipeline.engine.table_check import check_table_matches_spec
from sync_pipeline.entities.cars import CARS
from sync_pipeline.upstream.data.cars import generate_cars, touch_car, update_car
from sync_pipeline.upstream.data.oddities import make_odd
from sync_pipeline.upstream.data.rng import stream
from sync_pipeline_tests.engine.db.runs import change_log, quarantine, sync, table_rows


def test_spec_matches_the_migrated_table(db):
    check_table_matches_spec(db, CARS)


def test_contract_cars_load_round_trip(db, pool):
    cars = generate_cars(seed=3, count=200)
    result = sync(pool, CARS, cars, page_size=50)
    assert result.inserted == 200
    row = table_rows(db, "cars")[0]
    car = cars[0]
    assert row["price"] == Decimal(car["price"]) and row["features"] == car["features"]
    assert row["dealer"] == car["dealer"] and row["trim"] == car["trim"]
    assert row["listed_at"] == datetime.fromisoformat(car["listed_at"]).astimezone(UTC)


def test_upstream_updates_are_written_and_touches_are_not(db, pool):
    cars = generate_cars(seed=3, count=300)
    sync(pool, CARS, cars, page_size=50)
    rng = stream(3, "test-mutations")
    for car in cars[:6]:
        update_car(car, rng, stamp_ms=1_800_000_000_000)
    for car in cars[6:30]:
        touch_car(car, rng, stamp_ms=1_800_000_000_000)
    result = sync(pool, CARS, cars, page_size=50)
    assert (result.updated, result.unchanged) == (6, 294)
    assert {int(k) for k, *_ in change_log(db)} == {car["id"] for car in cars[:6]}
    assert {c for _, c, *_ in change_log(db)} <= {"price", "mileage", "features"}


def test_hostile_oddities(db, pool):
    cars = generate_cars(seed=3, count=60)
    odd = {
        oddity: make_odd(cars[i], "cars", oddity)
        for i, oddity in enumerate(
            ("nul", "emoji", "long_text", "extra_fields", "missing_optional", "wrong_type")
        )
    }
    result = sync(pool, CARS, cars, page_size=20)
    assert (result.inserted, result.quarantined, result.sanitized_values) == (59, 1, 1)
    reasons = {r["record_key"]: r["reason"] for r in quarantine(db)}
    assert reasons == {
        str(odd["wrong_type"]["id"]): "mileage: expected an integer, got str '87k mi'"
    }
    rows = {r["id"]: r for r in table_rows(db, "cars")}
    assert rows[odd["nul"]["id"]]["model"] == odd["nul"]["model"].replace("\x00", "")
    assert rows[odd["emoji"]["id"]]["model"] == odd["emoji"]["model"]
    assert len(rows[odd["long_text"]["id"]]["trim"]) > 10_000
    assert rows[odd["extra_fields"]["id"]]["extra"] == json.loads(
        json.dumps({k: odd["extra_fields"][k] for k in ("x_trace_id", "_links", "legacy_ref")})
    )
    assert rows[odd["missing_optional"]["id"]]["trim"] is None
