"""Helpers for talking to the reference upstream over loopback HTTP, as any client would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES

ISO_UTC_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def api(upstream: UpstreamProcess) -> Iterator[httpx.Client]:
    """A client of the shared session upstream (profile none); tests here never change its data."""
    with httpx.Client(base_url=upstream.url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def own_upstream() -> Iterator[UpstreamProcess]:
    """A server for this module alone, for tests that mutate data or change faults.

    Tests put it back with `restore(server)` so they do not depend on each other's order.
    """
    with UpstreamProcess(profile="none", seed=7, sizes=TEST_UPSTREAM_SIZES) as server:
        yield server


def restore(server: UpstreamProcess, seed: int = 7) -> None:
    server.admin("faults", {"source": "*", "profile": "none"})
    server.admin("reset", {"seed": seed, "sizes": TEST_UPSTREAM_SIZES})
    server.admin("stats/reset", {})


def walk_numbered(
    client: httpx.Client,
    path: str,
    items_key: str,
    size_key: str,
    size: int,
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every record of a page-numbered list, pages fetched in order until an empty one."""
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        response = client.get(path, params={**(params or {}), "page": page, size_key: size})
        response.raise_for_status()
        items = response.json()[items_key]
        if not items:
            return records
        records += items
        page += 1


def walk_cursor(
    client: httpx.Client, path: str, limit: int, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every record of a cursor-paged list."""
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**(params or {}), "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query)
        response.raise_for_status()
        body = response.json()
        records += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return records


def assert_fields(record: dict[str, Any], expected: dict[str, Any]) -> None:
    """Exactly the expected field names, each value of the expected type(s)."""
    assert set(record) == set(expected), f"fields differ: {sorted(set(record) ^ set(expected))}"
    for name, kind in expected.items():
        if kind == "timestamp":
            assert isinstance(record[name], str) and ISO_UTC_MS.match(record[name]), (
                name,
                record[name],
            )
        else:
            value = record[name]
            assert isinstance(value, kind) and not (kind is int and isinstance(value, bool)), (
                name,
                value,
            )


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
