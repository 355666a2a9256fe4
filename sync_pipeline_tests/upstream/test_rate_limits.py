"""Exact per-token rate limits, 429 with Retry-After, and the peak rates of `/_admin/stats`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from sync_pipeline.upstream.auth import ANONYMOUS, token_label
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.upstream.conftest import assert_error, restore


@pytest.fixture
def server(own_upstream: UpstreamProcess) -> Iterator[UpstreamProcess]:
    restore(own_upstream)
    yield own_upstream
    restore(own_upstream)


def _burst(url: str, count: int, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    with httpx.Client(base_url=url, headers=headers or {}) as client, ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: client.get("/cars", params={"page_size": 1}), range(count)))


def test_requests_over_the_limit_get_429_with_retry_after_and_are_not_served(
    server: UpstreamProcess,
) -> None:
    server.admin("faults", {"source": "cars", "rps": 1, "burst": 3})
    started = time.monotonic()
    responses = _burst(server.url, 12)
    elapsed = time.monotonic() - started
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert 3 <= len(ok) <= 3 + int(elapsed * 1) + 1
    for response in refused:
        assert_error(response, 429, "rate_limited")
        assert (
            response.headers["retry-after"].isdigit() and int(response.headers["retry-after"]) >= 1
        )
    tally = server.admin("stats")["endpoints"]["cars.list"]["tokens"][ANONYMOUS]
    assert (tally["served"], tally["throttled"], tally["requests"]) == (len(ok), len(refused), 12)


def test_waiting_as_long_as_retry_after_says_is_enough(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "cars", "rps": 0.5, "burst": 1})
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/cars").status_code == 200
        refused = client.get("/cars")
        assert refused.status_code == 429
        time.sleep(int(refused.headers["retry-after"]))
        assert client.get("/cars").status_code == 200


def test_limits_are_per_token(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "cars", "rps": 0.1, "burst": 2})
    for token in ("alpha", "beta"):
        statuses = [
            r.status_code for r in _burst(server.url, 4, {"Authorization": f"Bearer {token}"})
        ]
        assert sorted(statuses) == [200, 200, 429, 429]
    tokens = server.admin("stats")["limit_groups"]["cars"]["tokens"]
    assert {token_label("alpha"), token_label("beta")} <= set(tokens)


def test_limit_group_spans_all_store_endpoints(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "stores", "rps": 0.1, "burst": 2})
    with httpx.Client(base_url=server.url) as client:
        code = client.get("/stores", params={"limit": 1}).json()["data"][0]["code"]
        assert client.get(f"/stores/{code}/users").status_code == 200
        assert client.get(f"/stores/{code}/videos").status_code == 429


def test_peak_rate_counts_every_request_in_any_one_second_window(server: UpstreamProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        for _ in range(12):
            client.get("/workspaces")
        for _ in range(3):
            client.get("/stores", params={"limit": 1})
            time.sleep(1.05)
    stats = server.admin("stats")
    assert (
        stats["endpoints"]["contacts.workspaces"]["tokens"][ANONYMOUS]["max_requests_in_1s"] == 12
    )
    assert stats["endpoints"]["stores.list"]["max_requests_in_1s"] == 1
    assert stats["limit_groups"]["contacts"]["max_requests_in_1s"] == 12
    assert stats["window"].startswith("sliding")


def test_a_paced_client_is_seen_under_its_limit(server: UpstreamProcess) -> None:
    server.admin("faults", {"source": "cars", "rps": 5, "burst": 5})
    with httpx.Client(base_url=server.url) as client:
        statuses = []
        for _ in range(11):
            statuses.append(client.get("/cars", params={"page_size": 1}).status_code)
            time.sleep(0.25)
    group = server.admin("stats")["limit_groups"]["cars"]
    assert statuses == [200] * 11 and group["throttled"] == 0
    assert 3 <= group["max_requests_in_1s"] <= 5


def test_stats_reset(server: UpstreamProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.get("/workspaces")
    assert server.admin("stats")["endpoints"]
    server.admin("stats/reset", {})
    assert server.admin("stats")["endpoints"] == {}
