"""The `seed` profile as documented: its limits, latencies and one expired store."""

from __future__ import annotations

import time

import httpx

from sync_pipeline_tests.upstream.conftest import assert_error

SEED_LIMITS = {
    "cars": 20,
    "users.list": 10,
    "users.detail": 0.25,
    "stores": 10,
    "pvp": 100,
    "contacts": 10,
}


def test_seed_profile_limits_latency_and_expired_store(upstream_factory) -> None:
    server = upstream_factory(profile="seed")
    settings = server.admin("faults")["sources"]
    limits = {
        group: limit["rps"]
        for source in settings.values()
        for group, limit in source["limits"].items()
    }
    assert limits == SEED_LIMITS
    assert settings["users"]["latency_ms"]["users.detail"] == [1400, 2000]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        user_id = client.get("/users", params={"per_page": 1}).json()["data"][0]["id"]
        started = time.monotonic()
        assert client.get(f"/users/{user_id}").status_code == 200
        assert time.monotonic() - started >= 0.9
        refused = client.get(f"/users/{user_id}")
        assert_error(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 3
        server.admin(
            "faults", {"source": "stores", "latency_ms": [0, 0], "rps": None}
        )  # keeps its expired store
        codes = [s["code"] for s in client.get("/stores", params={"limit": 100}).json()["data"]]
        expired = [
            code
            for code in codes
            if client.get(f"/stores/{code}/users", params={"limit": 1}).status_code == 403
        ]
    assert len(expired) == 1


def test_profile_none_has_no_limits_and_no_latency(upstream) -> None:
    settings = httpx.get(f"{upstream.url}/_admin/faults").json()["sources"]
    for source in settings.values():
        assert all(limit["rps"] is None for limit in source["limits"].values())
        assert all(latency == [0.0, 0.0] for latency in source["latency_ms"].values())
        assert not any(source["rates"].values()) and not source["data_oddities"]
