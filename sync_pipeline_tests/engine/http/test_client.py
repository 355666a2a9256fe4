"""ApiClient against the reference upstream (profile none): bodies, gzip, 404, 400, metrics."""

from __future__ import annotations

import asyncio

import pytest

from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.errors import BadRequest
from sync_pipeline.engine.http.responses import ApiResponse, NotFound
from sync_pipeline_tests.engine.http.conftest import recording_transport


def test_gets_a_page_whole_over_gzip(upstream, quick_config, transport_name):
    transport = recording_transport(transport_name)

    async def run() -> ApiResponse:
        async with ApiClient(quick_config(upstream.url), transport=transport) as client:
            response = await client.get_json("/cars", {"page": 1, "page_size": 50})
            assert client.metrics.requests == 1 and client.metrics.latency.count == 1
            return response

    response = asyncio.run(run())
    assert response.status == 200 and response.attempts == 1
    assert len(response.data["items"]) == 50 and response.data["total"] == 5000
    assert transport.exchanges[0].headers.get("content-encoding") == "gzip"


def test_parse_shapes_the_body(upstream, quick_config):
    async def run() -> int:
        async with ApiClient(quick_config(upstream.url)) as client:
            response = await client.get_json(
                "/cars", {"page": 2, "page_size": 7}, parse=lambda b: len(b["items"])
            )
            return response.data

    assert asyncio.run(run()) == 7


def test_missing_user_is_a_typed_result_not_an_error(upstream, quick_config):
    async def run() -> object:
        async with ApiClient(quick_config(upstream.url)) as client:
            result = await client.get_json("/users/999999999")
            assert client.metrics.not_found == 1
            return result

    result = asyncio.run(run())
    assert isinstance(result, NotFound)
    assert result.code == "user_not_found" and result.path == "/users/999999999"


def test_bad_request_fails_at_once_with_the_upstream_reason(upstream, quick_config):
    transport = recording_transport("aiohttp")

    async def run() -> None:
        async with ApiClient(quick_config(upstream.url), transport=transport) as client:
            await client.get_json("/cars", {"page": 1, "page_size": 5000})

    with pytest.raises(
        BadRequest, match=r"/cars\?page=1&page_size=5000 was rejected with HTTP 400"
    ) as info:
        asyncio.run(run())
    assert info.value.status == 400 and info.value.code
    assert len(transport.exchanges) == 1


def test_many_concurrent_requests_stay_within_concurrency(upstream, quick_config):
    transport = recording_transport("aiohttp", connections=64)

    async def run() -> None:
        async with ApiClient(
            quick_config(upstream.url, concurrency=3), transport=transport
        ) as client:
            await asyncio.gather(
                *(client.get_json("/cars", {"page": p, "page_size": 20}) for p in range(1, 31))
            )

    asyncio.run(run())
    assert len(transport.exchanges) == 30 and transport.most_in_flight == 3


def test_the_time_budget_runs_from_a_requests_first_slot_not_while_it_queues(
    upstream, quick_config
):
    """Ten requests at 4/s with a 1 s budget and one attempt each: the last queues about 2.25 s
    behind the rate limit for its slot, which is the pacing at work, so every one is answered."""
    config = quick_config(upstream.url, rps=4.0, total_budget_s=1.0, max_attempts=1)

    async def run() -> tuple[list[ApiResponse], float]:
        async with ApiClient(config) as client:
            began = asyncio.get_running_loop().time()
            answers = await asyncio.gather(
                *(client.get_json("/cars", {"page": p, "page_size": 5}) for p in range(1, 11))
            )
            return answers, asyncio.get_running_loop().time() - began

    answers, elapsed_s = asyncio.run(run())
    assert all(isinstance(a, ApiResponse) for a in answers)
    assert elapsed_s > config.total_budget_s * 2, "the last request queued past the budget"
