"""`sync-pipeline bench http`: the HTTP client against the reference upstream, figures side by side.

1. Throughput (profile none, 16 in flight, pages of 100 cars): a bare `httpx.AsyncClient` loop and
   the `ApiClient` walking the same pages in the same run, in alternating rounds, on its default
   aiohttp transport and on httpx's own (the same transport as the bare loop). Every figure is
   the median of the rounds, and each ratio is of medians: ours on aiohttp / bare httpx, and the
   same-transport ratio, ours on httpx / bare httpx (both at least 0.9). For context, the
   client's `get_json` alone in the bare loop's shape (16 workers, each body dropped once parsed):
   the ordered walk (pages held until their turn, repeats dropped) is what the full pass adds.
2. A 20 requests/s limit on the upstream: pages/s the client sustains over a window, its 429s,
   and the upstream's highest count of requests in any 1-second window.
3. Two OS processes sharing one API key, its 20/s limit and the PostgreSQL bucket: the upstream's
   highest count of requests in any 1-second window over both, and their 429s.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.db.connect import app_database_url
from sync_pipeline.db.migrations import migrate
from sync_pipeline.engine.http import (
    ApiClient,
    ClientConfig,
    PagedListing,
    ProgressReporter,
    fetch_pages,
)
from sync_pipeline.upstream.auth import token_label
from sync_pipeline.upstream.process import UpstreamProcess

CONCURRENCY = 16
PAGE_SIZE = 100
LIMIT_RPS = 20.0


@dataclass(frozen=True)
class Plan:
    pages: int  # pages per throughput pass
    rounds: int  # throughput passes of each kind
    rate_window_s: float  # how long the 20/s run lasts
    shared_window_s: float  # how long the two processes run together


FULL = Plan(pages=400, rounds=3, rate_window_s=40.0, shared_window_s=30.0)
QUICK = Plan(pages=150, rounds=3, rate_window_s=10.0, shared_window_s=8.0)


def run(options: BenchOptions) -> BenchReport:
    """Start the upstream (and a second process for part 3), measure, and return the figures."""
    plan = QUICK if options.quick else FULL
    report = BenchReport("http")
    database = app_database_url()
    migrate(database)
    report.environment.update(
        {
            "pages_per_pass": plan.pages,
            "page_size": PAGE_SIZE,
            "concurrency": CONCURRENCY,
            "rate_window_s": plan.rate_window_s,
            "shared_window_s": plan.shared_window_s,
        }
    )
    with UpstreamProcess(
        profile="none", sizes={"cars": plan.pages * PAGE_SIZE - PAGE_SIZE // 2}
    ) as upstream:
        _throughput(report, upstream, plan)
        _rate_limited(report, upstream, plan)
        _shared_key(report, upstream, plan, database.conninfo())
    return report


def _throughput(report: BenchReport, upstream: UpstreamProcess, plan: Plan) -> None:
    rates: dict[str, list[float]] = {"bare": [], "aiohttp": [], "httpx": [], "get_json": []}
    cpu_ms: dict[str, list[float]] = {name: [] for name in rates}
    for _ in range(plan.rounds):
        for name, measured in rates.items():
            cpu = time.process_time()
            if name == "bare":
                work = _bare_pass(upstream.url, plan.pages)
            elif name == "get_json":
                work = _get_json_pass(upstream.url, plan.pages)
            else:
                work = _client_pass(upstream.url, name)
            pages_per_s = asyncio.run(work)
            cpu_ms[name].append((time.process_time() - cpu) * 1000 / plan.pages)
            measured.append(pages_per_s)
    median = {name: statistics.median(values) for name, values in rates.items()}
    n = f"median of {plan.rounds}"
    report.info(f"bare httpx.AsyncClient loop, pages/s (c=16, {n})", median["bare"], "pages/s")
    report.info(
        f"ApiClient, pages/s (c=16, aiohttp transport, default, {n})", median["aiohttp"], "pages/s"
    )
    report.info(f"ApiClient on httpx's own transport, pages/s ({n})", median["httpx"], "pages/s")
    report.at_least(
        "median ratio ApiClient (aiohttp transport) / bare httpx, pages/s",
        median["aiohttp"] / median["bare"],
        "ratio",
        0.9,
    )
    report.at_least(
        "median ratio ApiClient (httpx transport, same as bare) / bare httpx, pages/s",
        median["httpx"] / median["bare"],
        "ratio",
        0.9,
    )
    report.info(
        "median ratio ApiClient.get_json alone (httpx transport, the bare loop's 16 workers) / "
        "bare httpx, pages/s (context)",
        median["get_json"] / median["bare"],
        "ratio",
    )
    for name, label in (
        ("bare", "bare httpx"),
        ("aiohttp", "ApiClient"),
        ("httpx", "ApiClient, httpx transport"),
        ("get_json", "ApiClient.get_json alone, httpx transport"),
    ):
        report.info(f"client CPU per page, {label} ({n})", statistics.median(cpu_ms[name]), "ms")
    report.environment["throughput_rounds"] = {"pages_per_s": rates, "cpu_ms_per_page": cpu_ms}


async def _bare_pass(base_url: str, pages: int) -> float:
    """Pages/s of 16 workers sharing one plain httpx.AsyncClient, parsing each body like the
    client."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, headers={"Authorization": "Bearer bench-bare"}
    ) as client:
        numbers = iter(range(1, pages + 1))

        async def worker() -> None:
            for number in numbers:
                response = await client.get(
                    "/cars", params={"page": number, "page_size": PAGE_SIZE}
                )
                response.raise_for_status()
                orjson.loads(response.content)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return pages / (time.perf_counter() - started)


def _unlimited_config(base_url: str, transport: str) -> ClientConfig:
    """The client of the throughput passes: no rate limit, 16 in flight, a token of its own."""
    return ClientConfig(
        base_url,
        token=f"bench-{transport}",
        name="cars",
        rps=None,
        concurrency=CONCURRENCY,
        transport=transport,
    )


async def _client_pass(base_url: str, transport: str) -> float:
    async with ApiClient(_unlimited_config(base_url, transport)) as client:
        started = time.perf_counter()
        async for _ in fetch_pages(
            client, PagedListing("/cars", "items", "page_size", PAGE_SIZE), _car_id
        ):
            pass
        return client.metrics.pages / (time.perf_counter() - started)


async def _get_json_pass(base_url: str, pages: int) -> float:
    """Pages/s of `ApiClient.get_json` on httpx's transport in the bare loop's shape: 16 workers
    sharing one client, each body dropped once parsed (no ordering, no pages, no dedup)."""
    async with ApiClient(_unlimited_config(base_url, "httpx")) as client:
        numbers = iter(range(1, pages + 1))

        async def worker() -> None:
            for number in numbers:
                await client.get_json("/cars", {"page": number, "page_size": PAGE_SIZE})

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return pages / (time.perf_counter() - started)


def _car_id(car: dict[str, Any]) -> Any:
    return car["id"]


def _rate_limited(report: BenchReport, upstream: UpstreamProcess, plan: Plan) -> None:
    upstream.admin("faults", {"source": "cars", "profile": "none", "rps": LIMIT_RPS})
    token = "bench-rate"
    result = fetch_for(
        upstream.url, token, None, None, plan.rate_window_s, time.monotonic(), progress=True
    )
    stats = upstream.admin("stats")["limit_groups"]["cars"]["tokens"][token_label(token)]
    report.at_least(
        f"pages/s sustained at a {LIMIT_RPS:g}/s limit ({plan.rate_window_s:g} s)",
        result["pages_per_s"],
        "pages/s",
        LIMIT_RPS * 0.975,
    )
    report.equal("429s at that limit (upstream's count)", stats["throttled"], "count", 0)
    report.at_most(
        "max requests in any 1 s, one process (upstream's count)",
        stats["max_requests_in_1s"],
        "requests",
        LIMIT_RPS,
    )
    for name in ("p50", "p95", "p99"):
        report.info(f"request latency {name} at that limit", result[f"latency_{name}_ms"], "ms")


def _shared_key(report: BenchReport, upstream: UpstreamProcess, plan: Plan, conninfo: str) -> None:
    token, key = "bench-shared", f"cars:bench-{uuid.uuid4().hex[:8]}"
    start_at = time.monotonic() + 5.0
    args = (upstream.url, token, conninfo, key, plan.shared_window_s, start_at)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        runs = [pool.apply_async(fetch_for, args) for _ in range(2)]
        results = [r.get(timeout=plan.shared_window_s + 120) for r in runs]
    stats = upstream.admin("stats")["limit_groups"]["cars"]["tokens"][token_label(token)]
    report.at_most(
        "two processes, one key: max requests in any 1 s (upstream's count)",
        stats["max_requests_in_1s"],
        "requests",
        LIMIT_RPS,
    )
    report.equal("two processes, one key: 429s (upstream's count)", stats["throttled"], "count", 0)
    together_s = max(r["finished_at"] for r in results) - min(r["started_at"] for r in results)
    report.info(
        "two processes, one key: pages/s together",
        sum(r["pages"] for r in results) / together_s,
        "pages/s",
    )
    report.info(
        "two processes, one key: share of the first",
        results[0]["pages"] / max(stats["requests"], 1),
        "share",
    )


def fetch_for(
    base_url: str,
    token: str,
    conninfo: str | None,
    shared_key: str | None,
    seconds: float,
    start_at: float,
    progress: bool = False,
) -> dict[str, float]:
    """From monotonic `start_at`, fetch car pages for `seconds` at the client's 20/s pacing
    (shared through PostgreSQL when `shared_key` is given); returns pages, pages/s, latency and
    when it started and finished (CLOCK_MONOTONIC: one clock for every process on the machine)."""
    config = ClientConfig(
        base_url,
        token=token,
        name="cars",
        rps=LIMIT_RPS,
        concurrency=CONCURRENCY,
        shared_limiter_key=shared_key,
    )

    async def fetch() -> dict[str, float]:
        async with ApiClient(config, limiter_conninfo=conninfo) as client:
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            client.metrics.started_at = time.monotonic()
            deadline = client.metrics.started_at + seconds
            async with ProgressReporter(
                client.metrics,
                "20/s window",
                total=int(seconds * LIMIT_RPS * 10),
                bar=None if progress else False,
            ):
                await asyncio.gather(
                    *(_fetch_until(client, deadline, first) for first in range(CONCURRENCY))
                )
            finished_at = time.monotonic()
            latency = client.metrics.latency.summary_ms()
            return {
                "pages": client.metrics.pages,
                "started_at": client.metrics.started_at,
                "finished_at": finished_at,
                "pages_per_s": client.metrics.pages / (finished_at - client.metrics.started_at),
                **{f"latency_{name}_ms": value for name, value in latency.items()},
            }

    return asyncio.run(fetch())


async def _fetch_until(client: ApiClient, deadline: float, page: int) -> None:
    while time.monotonic() < deadline:
        response = await client.get_json("/cars", {"page": page % 50 + 1, "page_size": 10})
        client.metrics.record_page(len(response.data["items"]))
        page += CONCURRENCY
