"""The generators, in process: determinism, realistic values, contract-shaped cars, sizes."""

from __future__ import annotations

import re

import orjson
import pytest

from sync_pipeline.errors import ConfigError
from sync_pipeline.upstream.clock import (
    DATA_END_MS,
    DATA_START_MS,
    MutationClock,
    iso_column,
    iso_from_ms,
    ms_from_iso,
)
from sync_pipeline.upstream.data import generate_cars
from sync_pipeline.upstream.data.dataset import build_dataset
from sync_pipeline.upstream.sizes import DataSizes
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES

SMALL = DataSizes.from_mapping(TEST_UPSTREAM_SIZES)
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9))),
    **dict(zip("JKLMN", range(1, 6))),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10))),
}


def test_generate_cars_is_byte_identical_for_a_seed_and_differs_across_seeds() -> None:
    assert orjson.dumps(generate_cars(5, 3000)) == orjson.dumps(generate_cars(5, 3000))
    assert generate_cars(5, 50) != generate_cars(6, 50)


def test_generate_cars_matches_what_the_server_stores() -> None:
    cars = generate_cars(1, SMALL.cars)
    assert [orjson.dumps(car) for car in cars] == build_dataset(1, SMALL).cars.blobs


def test_cars_are_contract_shaped_and_look_real() -> None:
    cars = generate_cars(2, 2000)
    for car in cars:
        assert re.fullmatch(r"[1-9]\d*\.\d{2}", car["price"])
        assert DATA_START_MS <= ms_from_iso(car["updated_at"]) < DATA_END_MS
        assert car["listed_at"] <= car["updated_at"] <= car["scraped_at"]
        check = sum(VIN_VALUES[c] * w for c, w in zip(car["vin"], VIN_WEIGHTS)) % 11
        assert car["vin"][8] == ("X" if check == 10 else str(check))
    assert len({car["vin"] for car in cars}) == len(cars)
    assert (
        len({car["make"] for car in cars}) > 10
        and len({car["dealer"]["name"] for car in cars}) > 15
    )
    assert any(not name.isascii() for car in cars for name in (car["make"], car["dealer"]["name"]))
    assert not any(re.fullmatch(r"\w+_\d+", car["model"]) for car in cars)


def test_the_whole_dataset_is_deterministic() -> None:
    first, second = build_dataset(9, SMALL), build_dataset(9, SMALL)
    for table in ("cars", "users", "stores", "store_users", "videos", "contacts"):
        assert getattr(first, table).blobs == getattr(second, table).blobs, table
    assert first.users.details == second.users.details
    assert first.pvp.board_body(9, "kr", "2v2", False) == second.pvp.board_body(
        9, "kr", "2v2", False
    )
    assert first.pvp.board_body(9, "kr", "2v2", True) == second.pvp.board_body(9, "kr", "2v2", True)
    assert first.workspaces == second.workspaces


def test_users_and_contacts_carry_real_looking_unicode_names_and_emails() -> None:
    dataset = build_dataset(4, SMALL)
    users = [orjson.loads(blob) for blob in dataset.users.blobs]
    assert any(not user["name"].isascii() for user in users)
    assert all(re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+", user["email"]) for user in users)
    assert len({user["email"] for user in users}) > 0.95 * len(users)


def test_timestamps_are_iso_utc_with_milliseconds() -> None:
    stamps = [DATA_START_MS, DATA_END_MS - 1, 1_700_000_000_123]
    assert (
        iso_column(stamps)
        == [iso_from_ms(ms) for ms in stamps]
        == ["2026-10-24T00:00:00.000Z", "2026-11-22T23:59:59.999Z", "2023-11-14T22:13:20.123Z"]
    )
    assert ms_from_iso("2026-11-23T08:15:00.123Z") == ms_from_iso("2026-11-23T09:15:00.123+01:00")
    assert ms_from_iso("2026-11-23T08:15:00.1231Z") == ms_from_iso("2026-11-23T08:15:00.124Z")


def test_mutation_clock_only_moves_forward() -> None:
    clock = MutationClock()
    stamps = [clock.next_ms() for _ in range(1000)]
    assert stamps == sorted(set(stamps)) and stamps[0] > DATA_END_MS


def test_sizes_parse_and_reject_nonsense() -> None:
    assert DataSizes.parse("cars=10, users=5").cars == 10 and DataSizes.parse("").cars == 200_000
    for bad in ("cars", "planes=3", "cars=-1", "cars=ten", "workspaces=0"):
        with pytest.raises(ConfigError):
            DataSizes.parse(bad)
