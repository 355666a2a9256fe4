"""429s: Retry-After is honoured in both forms (measured on the wire) and the rate goes down."""

from __future__ import annotations

import asyncio
from email.utils import parsedate_to_datetime

from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline_tests.engine.http.conftest import recording_transport

ONE_PER_SECOND = {
    "source": "cars",
    "profile": "hostile",
    "rps": 1,
    "burst": 1,
    "latency_ms": [0, 0],
    "storm_rate": 0,
    "error_rate": 0,
    "timeout_rate": 0,
    "drop_rate": 0,
    "malformed_rate": 0,
    "shift_rate": 0,
}


def test_retry_after_in_seconds_and_as_a_date_is_waited_out(own_upstream, quick_config):
    own_upstream.admin("faults", ONE_PER_SECOND)
    transport = recording_transport("aiohttp")

    async def run() -> ApiClient:
        async with ApiClient(
            quick_config(own_upstream.url, rps=10.0, concurrency=1), transport=transport
        ) as client:
            for page in range(1, 5):
                await client.get_json("/cars", {"page": page, "page_size": 5})
            return client

    try:
        client = asyncio.run(run())
    finally:
        own_upstream.admin("faults", {"source": "cars", "profile": "none"})
    throttled = [(i, e) for i, e in enumerate(transport.exchanges) if e.status == 429]
    forms = {"seconds" if e.headers["retry-after"].isdigit() else "date" for _, e in throttled}
    assert forms == {"seconds", "date"}, f"the upstream should have used both forms, saw {forms}"
    for i, refused in throttled:
        retry = transport.exchanges[i + 1]
        assert retry.url == refused.url
        value = refused.headers["retry-after"]
        if value.isdigit():
            assert retry.sent_at - refused.answered_at >= int(value) - 0.02
        else:
            assert retry.sent_wall >= parsedate_to_datetime(value).timestamp() - 0.02
    assert client.metrics.throttled == len(throttled) >= 2
    assert client.limiter.current_rps() < 10.0 * 0.99 * 0.8 + 1e-9, (
        "429s must lower the rate for a while"
    )
    assert transport.exchanges[-1].status == 200
