"""Code the shared-limiter tests run in other OS processes (spawned, so nothing is inherited)."""

from __future__ import annotations

import asyncio
import time

from sync_pipeline.engine.http.shared_bucket import SharedTokenBucket


def acquire_times(conninfo: str, key: str, rate: float, count: int, start_at: float) -> list[float]:
    """Wait until monotonic time `start_at`, then acquire `count` slots; returns when each was
    granted.

    CLOCK_MONOTONIC is one clock for the whole machine on Linux, so the stamps of several
    processes can be merged and compared.
    """

    async def run() -> list[float]:
        bucket = SharedTokenBucket(conninfo, key, rate)
        stamps: list[float] = []

        async def one() -> None:
            await bucket.acquire()
            stamps.append(time.monotonic())

        try:
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            await asyncio.gather(*(one() for _ in range(count)))
        finally:
            await bucket.aclose()
        return stamps

    return asyncio.run(run())


def fetch_cars_for(
    base_url: str,
    token: str,
    conninfo: str,
    key: str,
    rps: float,
    headroom: float,
    seconds: float,
    start_at: float,
) -> dict[str, int]:
    """From monotonic `start_at`, fetch car pages for `seconds` through an ApiClient whose rate
    limit is the shared bucket `key`; returns how many requests were sent and how many got 429."""
    from sync_pipeline.engine.http.client import ApiClient
    from sync_pipeline.engine.http.config import ClientConfig

    config = ClientConfig(
        base_url,
        token=token,
        name="cars",
        rps=rps,
        rate_headroom=headroom,
        concurrency=8,
        shared_limiter_key=key,
    )

    async def run() -> dict[str, int]:
        async with ApiClient(config, limiter_conninfo=conninfo) as client:
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            deadline = time.monotonic() + seconds

            async def worker(first_page: int) -> None:
                page = first_page
                while time.monotonic() < deadline:
                    await client.get_json("/cars", {"page": page % 50 + 1, "page_size": 10})
                    page += 8

            await asyncio.gather(*(worker(n) for n in range(8)))
            return {"requests": client.metrics.requests, "http_429": client.metrics.throttled}

    return asyncio.run(run())
