"""Bearer tokens: 401 in the contract's form without the right one, on every endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sync_pipeline.upstream.auth import token_label
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES
from sync_pipeline_tests.secret_scan import TEST_TOKENS
from sync_pipeline_tests.upstream.conftest import assert_error

TOKEN = TEST_TOKENS["upstream"]
PATHS = (
    "/cars",
    "/users",
    "/users/1001",
    "/stores",
    "/pvp/eu/leaderboards/2v2",
    "/workspaces",
    "/contacts?workspace_id=x",
    "/_admin/stats",
    "/_admin/faults",
    "/_admin/info",
)


@pytest.fixture(scope="module")
def secured() -> Iterator[UpstreamProcess]:
    with UpstreamProcess(token=TOKEN, sizes=TEST_UPSTREAM_SIZES) as server:
        yield server


def test_missing_or_wrong_token_gets_401_everywhere(secured: UpstreamProcess) -> None:
    with httpx.Client(base_url=secured.url) as client:
        for path in PATHS:
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": f"Basic {TOKEN}"},
            ):
                response = client.get(path, headers=headers)
                assert_error(response, 401, "unauthorized")
                assert TOKEN not in response.text
        assert_error(
            client.post("/_admin/mutate", json={"source": "cars", "update": 0.5}),
            401,
            "unauthorized",
        )


def test_the_right_token_is_served_and_never_echoed(secured: UpstreamProcess) -> None:
    with httpx.Client(base_url=secured.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        assert client.get("/cars").status_code == 200
        assert client.get("/users/1").status_code == 404
        stats = client.get("/_admin/stats").text
    assert TOKEN not in stats and token_label(TOKEN) in stats
    assert secured.admin("info")["token_required"] is True


def test_openapi_document_needs_no_token(secured: UpstreamProcess) -> None:
    assert httpx.get(f"{secured.url}/openapi.json").status_code == 200
