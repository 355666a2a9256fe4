"""Contract tests of `GET /cars` (upstream-api.md section 2) against the real server."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

import httpx

from sync_pipeline.upstream.clock import iso_from_ms, ms_from_iso
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES
from sync_pipeline_tests.upstream.conftest import assert_error, assert_fields, walk_numbered

CAR_FIELDS = {
    "id": int,
    "vin": str,
    "make": str,
    "model": str,
    "year": int,
    "trim": (str, type(None)),
    "price": str,
    "mileage": int,
    "color": str,
    "fuel": str,
    "dealer": dict,
    "features": list,
    "listed_at": "timestamp",
    "updated_at": "timestamp",
    "scraped_at": "timestamp",
    "views": int,
}
DEALER_FIELDS = {"id": int, "name": str, "city": str, "state": str}


def test_page_has_the_contract_envelope_and_car_fields(api: httpx.Client) -> None:
    body = api.get("/cars", params={"page": 2, "page_size": 25}).json()
    assert_fields(body, {"items": list, "page": int, "page_size": int, "total": int})
    assert (body["page"], body["page_size"], body["total"]) == (2, 25, TEST_UPSTREAM_SIZES["cars"])
    assert len(body["items"]) == 25
    for car in body["items"]:
        assert_fields(car, CAR_FIELDS)
        assert_fields(car["dealer"], DEALER_FIELDS)
        assert re.fullmatch(r"\d+\.\d{2}", car["price"]) and Decimal(car["price"]) > 0
        assert re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", car["vin"])
        assert all(isinstance(feature, str) for feature in car["features"])


def test_walking_every_page_yields_every_car_once_in_id_order(api: httpx.Client) -> None:
    cars = walk_numbered(api, "/cars", "items", "page_size", 1000)
    ids = [car["id"] for car in cars]
    assert len(ids) == TEST_UPSTREAM_SIZES["cars"] == len(set(ids))
    assert ids == sorted(ids)


def test_time_window_is_half_open(api: httpx.Client) -> None:
    car = api.get("/cars", params={"page": 3, "page_size": 1}).json()["items"][0]
    stamp = ms_from_iso(car["updated_at"])

    def ids_in(since: int, until: int) -> list[int]:
        window = {"updated_since": iso_from_ms(since), "updated_until": iso_from_ms(until)}
        return [c["id"] for c in walk_numbered(api, "/cars", "items", "page_size", 1000, window)]

    assert car["id"] in ids_in(stamp, stamp + 1)
    assert car["id"] not in ids_in(stamp - 1000, stamp)
    assert car["id"] not in ids_in(stamp + 1, stamp + 1000)


def test_adjacent_windows_partition_the_catalogue(api: httpx.Client) -> None:
    bounds = [
        "2026-10-01T00:00:00.000Z",
        "2026-11-05T12:00:00.000Z",
        "2026-11-15T00:00:00.000Z",
        "2026-12-01T00:00:00.000Z",
    ]
    ids: list[int] = []
    for since, until in itertools.pairwise(bounds):
        window = {"updated_since": since, "updated_until": until}
        cars = walk_numbered(api, "/cars", "items", "page_size", 1000, window)
        assert api.get("/cars", params={**window, "page_size": 1}).json()["total"] == len(cars)
        assert all(since <= c["updated_at"] < until for c in cars)
        ids += [c["id"] for c in cars]
    assert len(ids) == len(set(ids)) == TEST_UPSTREAM_SIZES["cars"]


def test_page_size_over_the_maximum_is_a_contract_error(api: httpx.Client) -> None:
    assert_error(api.get("/cars", params={"page_size": 1001}), 400, "invalid_parameter")
    assert_error(api.get("/cars", params={"page": 0}), 400, "invalid_parameter")
    assert_error(api.get("/cars", params={"updated_since": "yesterday"}), 400, "invalid_parameter")


def test_gzip_is_used_only_when_accepted(api: httpx.Client) -> None:
    params = {"page": 1, "page_size": 100}
    zipped = api.get("/cars", params=params, headers={"Accept-Encoding": "gzip"})
    plain = api.get("/cars", params=params, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert zipped.content == plain.content
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2
