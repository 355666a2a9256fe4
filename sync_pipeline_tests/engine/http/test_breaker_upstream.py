"""The circuit breaker against a failing upstream: it opens, sends nothing while open, recovers."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from sync_pipeline.engine.http.circuit_breaker import BreakerState
from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.errors import CircuitOpen, ErrorClass, RetryBudgetExhausted


def cars_requests(server) -> int:
    return server.admin("stats")["endpoints"].get("cars.list", {}).get("requests", 0)


def test_opens_after_consecutive_failures_then_one_probe_closes_it(
    own_upstream, quick_config, caplog
):
    caplog.set_level(logging.INFO)
    own_upstream.admin("faults", {"source": "cars", "profile": "none", "error_rate": 1.0})
    config = quick_config(
        own_upstream.url, name="cars", max_attempts=2, breaker_threshold=3, breaker_open_s=0.5
    )

    async def run() -> ApiClient:
        async with ApiClient(config) as client:
            for page in (1, 2):
                with pytest.raises(RetryBudgetExhausted) as info:
                    await client.get_json("/cars", {"page": page, "page_size": 5})
                assert info.value.last_error is ErrorClass.SERVER_ERROR
            assert (
                client.breaker.state is BreakerState.OPEN and client.metrics.breaker_state == "open"
            )
            sent_before = await asyncio.to_thread(cars_requests, own_upstream)
            with pytest.raises(CircuitOpen, match="cars"):
                await client.get_json("/cars", {"page": 3, "page_size": 5})
            assert await asyncio.to_thread(cars_requests, own_upstream) == sent_before, (
                "sent while open"
            )
            await asyncio.to_thread(
                own_upstream.admin, "faults", {"source": "cars", "profile": "none"}
            )
            await asyncio.sleep(0.5)
            started = time.monotonic()
            response = await client.get_json("/cars", {"page": 3, "page_size": 5})
            assert response.status == 200 and time.monotonic() - started < 5
            return client

    try:
        client = asyncio.run(run())
    finally:
        own_upstream.admin("faults", {"source": "cars", "profile": "none"})
    assert client.breaker.state is BreakerState.CLOSED and client.metrics.breaker_state == "closed"
    assert (
        client.metrics.breaker_openings == 1 and client.metrics.failed_requests["CircuitOpen"] == 1
    )
    assert client.metrics.failed_requests["RetryBudgetExhausted"] == 2
    assert client.metrics.snapshot()["breaker_openings"] == 1
    assert (
        "opened after 4 consecutive failures" in caplog.text
        and "closed: the probe succeeded" in caplog.text
    )
