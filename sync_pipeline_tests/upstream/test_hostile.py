"""The `hostile` profile: every item of "What a client must survive", each in its documented
form."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES
from sync_pipeline_tests.upstream.conftest import assert_error

NO_FAULTS = {
    "error_rate": 0,
    "timeout_rate": 0,
    "malformed_rate": 0,
    "drop_rate": 0,
    "storm_rate": 0,
    "shift_rate": 0,
}
FAST = {"latency_ms": [1, 3], "timeout_s": 0.6, "storm_s": [0.2, 0.4]}


@pytest.fixture(scope="module")
def hostile() -> Iterator[UpstreamProcess]:
    with UpstreamProcess(profile="hostile", seed=3, sizes=TEST_UPSTREAM_SIZES) as server:
        yield server


@pytest.fixture
def server(hostile: UpstreamProcess) -> Iterator[UpstreamProcess]:
    """The hostile server with quick timeouts and storms, no rate limits and every fault off."""
    hostile.admin("reset", {"seed": 3, "sizes": TEST_UPSTREAM_SIZES})
    hostile.admin("faults", {"source": "*", "profile": "hostile", "rps": None, **FAST, **NO_FAULTS})
    hostile.admin("stats/reset", {})
    yield hostile


def _retry_after_s(response: httpx.Response) -> float:
    value = response.headers["retry-after"]
    if value.isdigit():
        return float(value)
    return parsedate_to_datetime(value).timestamp() - time.time()


def resilient_get(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> Any:
    """What a careful client does: retry transport errors, 5xx and bad bodies; honour
    Retry-After."""
    for _ in range(60):
        try:
            response = client.get(path, params=params)
        except (httpx.TimeoutException, httpx.RemoteProtocolError):
            continue
        if response.status_code == 429:
            time.sleep(max(0.0, min(_retry_after_s(response), 3.0)))
            continue
        if response.status_code >= 500:
            continue
        try:
            return response.json()
        except json.JSONDecodeError:
            continue
    raise AssertionError(f"{path} never succeeded")


def test_server_errors_are_500_502_503_504_in_the_error_form(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "cars", "error_rate": 1.0})
    with httpx.Client(base_url=server.url) as client:
        statuses = set()
        for page in range(1, 41):
            response = client.get("/cars", params={"page": page, "page_size": 1})
            assert_error(response, response.status_code, "upstream_unavailable")
            statuses.add(response.status_code)
    assert statuses == {500, 502, 503, 504}


def test_a_retried_request_eventually_succeeds(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "cars", "error_rate": 1.0})
    with httpx.Client(base_url=server.url) as client:
        statuses = [client.get("/cars", params={"page": 2}).status_code for _ in range(4)]
    assert statuses[:3] != [200] * 3 and statuses[3] == 200 and all(s >= 500 for s in statuses[:3])


def test_read_timeouts_hang_and_never_give_a_valid_answer(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "users", "timeout_rate": 1.0, "timeout_s": 0.6})
    with httpx.Client(base_url=server.url, timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        client.get("/users", params={"page": 1})
    with (
        httpx.Client(base_url=server.url, timeout=5.0) as client,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        client.get("/users", params={"page": 2})


def test_dropped_connections_end_mid_body(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "cars", "drop_rate": 1.0})
    with httpx.Client(base_url=server.url) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/cars", params={"page_size": 100})


def test_malformed_bodies_are_truncated_json_or_not_json(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "contacts", "malformed_rate": 1.0})
    kinds = set()
    with httpx.Client(base_url=server.url) as client:
        for limit in range(1, 21):
            response = client.get("/workspaces", params={"limit": limit})
            assert response.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.content)
            kinds.add(response.headers["content-type"].split(";")[0])
    assert kinds == {"application/json", "text/html"}


def test_storms_refuse_everything_for_a_while_with_both_retry_after_forms(
    server: UpstreamProcess,
) -> None:
    server.admin("faults", {"source": "cars", "storm_rate": 1.0, "storm_s": [0.5, 0.8]})
    forms = set()
    with httpx.Client(base_url=server.url) as client:
        for page in range(1, 15):
            started = client.get("/cars", params={"page": page})
            assert_error(started, 429, "rate_limited")
            during = client.get("/cars", params={"page": 1000 + page})
            assert during.status_code == 429
            forms.add("seconds" if started.headers["retry-after"].isdigit() else "date")
            time.sleep(max(0.0, _retry_after_s(started)) + 0.05)
            if forms == {"seconds", "date"}:
                break
    assert forms == {"seconds", "date"}
    faults = server.admin("stats")["endpoints"]["cars.list"]["faults"]
    assert faults["storm_started"] >= 2 and faults["storm_429"] >= 2 * faults["storm_started"]


def test_rate_limit_429s_use_both_retry_after_forms(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "cars", "rps": 0.1, "burst": 1})
    with httpx.Client(base_url=server.url) as client:
        headers = [client.get("/cars").headers.get("retry-after") for _ in range(5)]
    refused = [h for h in headers if h is not None]
    assert len(refused) == 4
    assert any(h.isdigit() for h in refused) and any(
        not h.isdigit() and parsedate_to_datetime(h) for h in refused
    )


def test_a_shifted_page_repeats_the_record_before_it(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "*", "shift_rate": 1.0})
    with httpx.Client(base_url=server.url) as client:
        first = client.get("/cars", params={"page": 1, "page_size": 10}).json()["items"]
        second = client.get("/cars", params={"page": 2, "page_size": 10}).json()["items"]
        stores = client.get("/stores", params={"limit": 3}).json()
        after = client.get("/stores", params={"limit": 3, "cursor": stores["next_cursor"]}).json()[
            "data"
        ]
    assert second[0] == first[-1] and len(second) == 11
    assert after[0] == stores["data"][-1]


def test_hostile_data_oddities_are_stable_and_only_under_hostile(server: UpstreamProcess) -> None:
    pages = range(1, TEST_UPSTREAM_SIZES["cars"] // 1000 + 1)
    with httpx.Client(base_url=server.url) as client:
        raw = [
            client.get("/cars", params={"page_size": 1000, "page": page}).content for page in pages
        ]
        again = [
            client.get("/cars", params={"page_size": 1000, "page": page}).content for page in pages
        ]
        cars = [car for body in raw for car in json.loads(body)["items"]]
        server.admin("faults", {"source": "cars", "data_oddities": False})
        normal = [
            car
            for page in pages
            for car in client.get("/cars", params={"page_size": 1000, "page": page}).json()["items"]
        ]
    assert raw == again
    strings = [value for car in cars for value in car.values() if isinstance(value, str)]
    assert any("\x00" in s for s in strings)
    assert any(any(ord(ch) > 0xFFFF for ch in s) for s in strings)
    assert any(len(s) >= 10_000 for s in strings)
    assert any(set(car) - set(normal[0]) for car in cars)
    assert any("trim" not in car for car in cars)
    assert any(not isinstance(car["mileage"], int) for car in cars)
    odd = sum(a != b for a, b in zip(cars, normal))
    assert 0 < odd < len(cars) * 0.1
    assert all(isinstance(c["mileage"], int) and "trim" in c for c in normal)


def test_users_vanish_between_list_and_detail(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "users", "vanishing_users": 0.05})
    with httpx.Client(base_url=server.url) as client:
        listed = client.get("/users", params={"per_page": 300}).json()["data"]
        gone = []
        for user in listed:
            response = client.get(f"/users/{user['id']}")
            if response.status_code == 404:
                assert_error(response, 404, "user_not_found")
                gone.append(user["id"])
        relisted = {
            u["id"]
            for page in (1, 2, 3, 4, 5, 6, 7)
            for u in client.get("/users", params={"per_page": 500, "page": page}).json()["data"]
        }
    assert 3 <= len(gone) <= 40
    assert not set(gone) & relisted
    assert server.admin("stats")["endpoints"]["users.detail"]["faults"][
        "deleted_before_detail"
    ] == len(gone)


def test_some_store_always_answers_token_expired(server: UpstreamProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        codes = [s["code"] for s in client.get("/stores", params={"limit": 100}).json()["data"]]
        expired = [c for c in codes if client.get(f"/stores/{c}/users").status_code == 403]
        assert expired and len(expired) < len(codes)
        for code in expired:
            for kind in ("users", "videos", "users"):
                assert_error(client.get(f"/stores/{code}/{kind}"), 403, "store_token_expired")


def _walk(
    client: httpx.Client, path: str, items_key: str, size_key: str, size: int, total: int
) -> list[int]:
    """Every page in order, each fetched until it comes back whole, as a pipeline would."""
    return [
        r["id"]
        for page in range(1, -(-total // size) + 1)
        for r in resilient_get(client, path, {"page": page, size_key: size})[items_key]
    ]


def test_a_sync_of_the_lists_meets_every_fault_and_still_gets_every_record_once(
    hostile: UpstreamProcess,
) -> None:
    hostile.admin("reset", {"seed": 3, "sizes": TEST_UPSTREAM_SIZES})
    hostile.admin("faults", {"source": "*", "profile": "hostile", "rps": None, **FAST})
    hostile.admin("stats/reset", {})
    duplicates = 0
    with httpx.Client(base_url=hostile.url, timeout=0.3) as client:
        for path, items_key, size_key, size in (
            ("/cars", "items", "page_size", 20),
            ("/users", "data", "per_page", 10),
        ):
            total = TEST_UPSTREAM_SIZES[path[1:]]
            small_pages = _walk(client, path, items_key, size_key, size, total)
            large_pages = _walk(client, path, items_key, size_key, 500, total)
            assert set(small_pages) == set(large_pages) and len(set(small_pages)) == total
            duplicates += len(small_pages) + len(large_pages) - 2 * total
    groups = hostile.admin("stats")["limit_groups"]
    faults = {
        kind: sum(group["faults"].get(kind, 0) for group in groups.values())
        for group in groups.values()
        for kind in group["faults"]
    }
    assert {kind for kind, count in faults.items() if count} >= {
        "storm_started",
        "storm_429",
        "http_500",
        "http_502",
        "http_503",
        "http_504",
        "timeout",
        "dropped",
        "truncated",
        "not_json",
        "shifted",
    }
    assert duplicates == faults["shifted"] > 0
