"""`sync-pipeline bench upstream`: the reference upstream's own performance (issue #3).

Figures, all from one server process with the default data set and profile `none`:
- data generation time (measured by the server around its generator) and time until ready;
- resident memory after startup and after the load runs;
- server CPU time per page of 100 cars with gzip off, from the server's /proc counters, divided
  by the pages served (median of the rounds);
- pages per second seen by the load generator (informational: on a 2-core machine the load
  generator and the server share the CPU, which is why CPU time per page is the honest figure).
The load generator is aiohttp in several processes, so it is not the bottleneck.
Run it as `flock /tmp/sync_bench.lock sync-pipeline bench upstream` on a shared machine.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp

from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline.upstream.sizes import DataSizes

PAGE_SIZE = 100
CLIENT_PROCESSES = 3
CONNECTIONS_PER_PROCESS = 8


def run(options: BenchOptions) -> BenchReport:
    report = BenchReport("upstream")
    pages_per_round = 4_000 if options.quick else 15_000
    rounds = 2 if options.quick else 3
    started = time.monotonic()
    with UpstreamProcess(profile="none", seed=1) as server:
        ready_s = time.monotonic() - started
        info = server.admin("info")
        rss_after_start = _rss_mb(server.pid)
        report.at_most("data generation, default sizes", info["generation_s"], "s", 5.0)
        report.info("process start until ready", ready_s, "s")
        report.at_most("resident memory after startup", rss_after_start, "MB", 600)
        cars_pages = info["counts"]["cars"] // PAGE_SIZE
        _load(server.url, cars_pages, 1_000, gzip=False)  # warm up connections and caches
        plain = [_measure(server, cars_pages, pages_per_round, gzip=False) for _ in range(rounds)]
        zipped = _measure(server, cars_pages, pages_per_round // 4, gzip=True)
        cpu_ms = statistics.median(ms for ms, _ in plain)
        report.at_most(
            f"server CPU per page of 100 cars, gzip off (median of {rounds})", cpu_ms, "ms", 0.5
        )
        measured = statistics.median(rate for _, rate in plain)
        report.info(
            f"pages/s measured, load generator on the same 2 cores (median of {rounds})",
            measured,
            "pages/s",
        )
        report.info("server CPU per page of 100 cars, gzip on", zipped[0], "ms")
        report.at_most("resident memory after the load runs", _rss_mb(server.pid), "MB", 600)
    report.environment.update(
        {
            "default_sizes": DataSizes().as_dict(),
            "page_size": PAGE_SIZE,
            "client_processes": CLIENT_PROCESSES,
            "connections_per_process": CONNECTIONS_PER_PROCESS,
            "pages_per_round": pages_per_round,
            "rounds": rounds,
            "cpu_ms_per_page_rounds": [round(ms, 4) for ms, _ in plain],
        }
    )
    return report


def _measure(
    server: UpstreamProcess, cars_pages: int, pages: int, gzip: bool
) -> tuple[float, float]:
    """(server CPU ms per page, pages per second) for one load run."""
    cpu_before = _cpu_s(server.pid)
    started = time.monotonic()
    served = _load(server.url, cars_pages, pages, gzip)
    elapsed = time.monotonic() - started
    cpu_ms = (_cpu_s(server.pid) - cpu_before) * 1000 / served
    return cpu_ms, served / elapsed


def _load(url: str, cars_pages: int, pages: int, gzip: bool) -> int:
    """Fetch `pages` pages of cars from several processes; returns the pages served (all must be
    200)."""
    share = pages // CLIENT_PROCESSES
    with ProcessPoolExecutor(CLIENT_PROCESSES) as pool:
        jobs = [(url, cars_pages, share, gzip, index) for index in range(CLIENT_PROCESSES)]
        counts = list(pool.map(_client_process, jobs))
    return sum(counts)


def _client_process(job: tuple[str, int, int, bool, int]) -> int:
    url, cars_pages, pages, gzip, index = job
    return asyncio.run(_fetch_pages(url, cars_pages, pages, gzip, index))


async def _fetch_pages(url: str, cars_pages: int, pages: int, gzip: bool, index: int) -> int:
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    connector = aiohttp.TCPConnector(limit=CONNECTIONS_PER_PROCESS)
    next_page = iter(range(pages))
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, auto_decompress=False
    ) as session:

        async def worker() -> int:
            done = 0
            for n in next_page:
                page = (n * 7919 + index * 104_729) % cars_pages + 1
                query = {"page": str(page), "page_size": str(PAGE_SIZE)}
                async with session.get(f"{url}/cars", params=query) as response:
                    body = await response.read()
                    if response.status != 200 or len(body) < 10_000:
                        raise RuntimeError(
                            f"page {page}: status {response.status}, {len(body)} bytes"
                        )
                done += 1
            return done

        return sum(await asyncio.gather(*(worker() for _ in range(CONNECTIONS_PER_PROCESS))))


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int | None) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
