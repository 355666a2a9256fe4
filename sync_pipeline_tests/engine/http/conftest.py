"""Fixtures for the HTTP client tests: client settings for tests, and transports that record.

Tests talk to the real reference upstream over loopback (the `upstream` and `upstream_factory`
fixtures of the top-level conftest); nothing of ours is mocked. Settings here are short
(backoffs, breaker, timeouts) so that fault tests run in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from sync_pipeline.engine.http.config import ClientConfig, Timeouts
from sync_pipeline.engine.http.transport import AiohttpTransport
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES

QUICK = {
    "rps": None,
    "concurrency": 8,
    "max_queue": 8,
    "backoff_base_s": 0.02,
    "backoff_cap_s": 0.2,
    "max_attempts": 8,
    "total_budget_s": 30.0,
    "breaker_threshold": 50,
    "breaker_open_s": 1.0,
    "timeouts": Timeouts(connect_s=2.0, read_s=1.0, write_s=2.0, pool_s=5.0),
}


@pytest.fixture(scope="module")
def own_upstream() -> Iterator[UpstreamProcess]:
    """A reference upstream for one test module (profile none, test sizes), free to change
    faults."""
    with UpstreamProcess(profile="none", seed=1, sizes=TEST_UPSTREAM_SIZES) as server:
        yield server


@pytest.fixture
def quick_config() -> Callable[..., ClientConfig]:
    """`quick_config(base_url, **overrides)`: a ClientConfig with test-sized waits."""

    def build(base_url: str, **overrides: Any) -> ClientConfig:
        return ClientConfig(base_url=base_url, **{**QUICK, **overrides})

    return build


@dataclass
class Exchange:
    """One request as the wire saw it: when it was sent, and what came back (or the error)."""

    url: str
    sent_at: float
    sent_wall: float
    answered_at: float | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps a real transport and notes every exchange (a test's eyes on the wire, not a mock)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []
        self.in_flight = self.most_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = Exchange(str(request.url), time.monotonic(), time.time())
        self.exchanges.append(exchange)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            response = await self.inner.handle_async_request(request)
        except Exception as exc:
            exchange.error = type(exc).__name__
            raise
        finally:
            self.in_flight -= 1
        exchange.answered_at = time.monotonic()
        exchange.status = response.status_code
        exchange.headers = {k.lower(): v for k, v in response.headers.items()}
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(params=["aiohttp", "httpx"])
def transport_name(request: pytest.FixtureRequest) -> str:
    return request.param


def recording_transport(name: str, connections: int = 8) -> RecordingTransport:
    inner = (
        AiohttpTransport(connections)
        if name == "aiohttp"
        else httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=connections))
    )
    return RecordingTransport(inner)
