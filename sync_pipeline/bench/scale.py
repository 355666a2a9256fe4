"""`sync-pipeline bench scale`: the stores sync on 1, 2 and 4 Celery workers, one limit for all.

`stores_sync_celery_job` (extra `.[celery]`, a broker at SYNC_CELERY_BROKER_URL) syncs every
store of its own reference upstream (600 stores: 3,600 requests, 90 s at the limit, so the
~2 s in which a sync starts and drains are a small share of it) under the `seed` profile's
latencies with the per-app limit raised to 40 requests/s, once per worker count: N
`sync-pipeline worker --concurrency 8/N` processes on a queue of the benchmark's own, so the 8
group steps run at once at every size (1 x 8, 2 x 4, 4 x 2 step processes), spread over the
workers. The store list is synced once first, into a scratch database; the Dagster runs go to
the instance of that server (a Dagster database and home of the benchmark's own).

Per size: the sync's wall time is from the first group's start of work to the last group's
`sync_logs` row (each group step writes one, with its duration), as `bench stores` measures
one process; the utilization of the per-app limit is the requests the upstream answered / 40
per s / that wall time, so 1.0 is the physical bound; `requests over the limit` are the
upstream's 429s. The steps' wall time (first STEP_START to last STEP_SUCCESS: loading the code
location in each worker process, and recording 6 materializations per store, on top) is
printed beside it. Every group step starts once (8 STEP_STARTs): a step handed out twice
(see `celery_worker.unacked_keys`) would send requests no step's output counts. At
40 requests/s the limit is the bound from one worker on (8 steps of up to 50 requests in
flight at ~1.8 s each want far more), so the wall time stays at the limit's bound instead of
falling with more workers: what the sizes show is that spreading the steps keeps the one limit
used in full and never exceeded.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.bench.stores import sizes
from sync_pipeline.celery_worker import WorkerProcess, broker_reachable
from sync_pipeline.db.scratch import scratch_dagster_database, scratch_database
from sync_pipeline.defs.stores.celery_job import STORE_GROUP_STEPS
from sync_pipeline.errors import ConfigError
from sync_pipeline.upstream.process import UpstreamProcess

STORES, QUICK_STORES = 600, 80
RPS = 40.0
WORKER_COUNTS = (1, 2, 4)
MIN_UTILIZATION = 0.95
# Stores of a group fetching users / videos at once: a group of 600 / 8 stores has 40 of them in
# flight, so one step alone can fill the limit while the others still load the code location.
STORES_IN_FLIGHT = 40
# Connections per step process: 8 of them share the server with Dagster's own.
DB_POOL_PER_STEP = 6
SEED = 11


def run(options: BenchOptions) -> BenchReport:
    unreachable = broker_reachable()
    if unreachable:
        raise ConfigError(f"bench scale needs a Celery broker: {unreachable}")
    report = BenchReport("scale")
    stores = QUICK_STORES if options.quick else STORES
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    # Its own token: requests that reach its port from anything else are refused, not counted.
    token = f"bench-scale-{uuid.uuid4().hex[:12]}"
    with (
        UpstreamProcess(profile="none", seed=SEED, sizes=sizes(stores), token=token) as upstream,
        scratch_database("sync_bench_scale") as url,
        tempfile.TemporaryDirectory(prefix="sync_bench_scale_") as home,
        scratch_dagster_database() as dagster_database,
        BenchEnvironment(url.raw, dagster_database, upstream.url, token, home),
    ):
        faults = {"source": "stores", "profile": "seed", "rps": RPS, "expired_stores": []}
        upstream.admin("faults", faults)
        instance = list_stores()
        try:
            for workers in WORKER_COUNTS:
                rows.append(measure(instance, upstream, workers, Path(home)))
        finally:
            instance.dispose()
    print_table(rows, stores)
    for row in rows:
        n = row["workers"]
        name = f"utilization of the per-app limit, {n} worker" + ("s" if n > 1 else "")
        report.at_least(name, row["utilization"], "ratio", MIN_UTILIZATION)
        report.info(f"sync wall time, {n} workers, {stores} stores", row["wall_s"], "s")
        report.info(
            f"steps wall time, {n} workers (code loading included)", row["steps_wall_s"], "s"
        )
        report.equal(f"requests over the limit, {n} workers", row["throttled"], "requests", 0)
        report.equal(f"stores synced, {n} workers", row["stores_ok"], "stores", stores)
        report.equal(f"step retries, {n} workers", row["retries"], "steps", 0)
        report.equal(f"group steps that succeeded, {n} workers", row["step_outputs"], "steps", 8)
        report.equal(f"group step starts, {n} workers", row["step_starts"], "starts", 8)
        report.info(f"requests the upstream answered, {n} workers", row["served"], "requests")
        report.info(f"requests the steps sent, {n} workers", row["client_requests"], "requests")
        report.info(f"requests the steps retried, {n} workers", row["client_retries"], "requests")
        report.equal(f"workers that ran steps, {n} workers", row["workers_used"], "workers", n)
    report.environment.update(
        {
            "stores": stores,
            "rps": RPS,
            "group_steps": STORE_GROUP_STEPS,
            "stores_in_flight_per_step": STORES_IN_FLIGHT,
            "db_pool_per_step": DB_POOL_PER_STEP,
            "quick": options.quick,
            "wall_s": round(time.perf_counter() - started, 1),
            "load_average_1m_before": round(load_before, 2),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        }
    )
    return report


class BenchEnvironment:
    """The workers' and this process's environment for the run (restored afterwards)."""

    def __init__(
        self, database_url: str, dagster_database: str, stores_url: str, token: str, home: str
    ):
        self.values = {
            "SYNC_DATABASE_URL": database_url,
            "SYNC_DAGSTER_DATABASE": dagster_database,
            "SYNC_STORES_API_URL": stores_url,
            "SYNC_STORES_API_TOKEN": token,
            "STORES_RPS": str(RPS),
            "SYNC_CONCURRENCY": str(STORES_IN_FLIGHT),
            "VIDEO_SYNC_CONCURRENCY": str(STORES_IN_FLIGHT),
            "DB_POOL_SIZE": str(DB_POOL_PER_STEP),
            "SYNC_PIPELINE_HOME": home,
            "DAGSTER_HOME": str(Path(home) / "dagster_home"),
        }
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for name, value in self.values.items():
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value

    def __exit__(self, *exc: object) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def list_stores():
    """The persistent instance with the store list synced (the partitions registered)."""
    from sync_pipeline.db.urls import DatabaseUrl
    from sync_pipeline.defs.stores.jobs import STORES_SOURCE_SYNC
    from sync_pipeline.instance import persistent_instance

    instance = persistent_instance(DatabaseUrl.parse(os.environ["SYNC_DATABASE_URL"]))
    if not STORES_SOURCE_SYNC.execute_list(instance).success:
        raise RuntimeError("bench scale: the store-list run failed")
    return instance


def measure(instance, upstream: UpstreamProcess, workers: int, home: Path) -> dict:
    """One run of every store on `workers` worker processes."""
    import dagster as dg

    from sync_pipeline.defs.stores.celery_job import execute_celery_stores

    queue = f"sync-bench-{uuid.uuid4().hex[:8]}"
    per_worker = STORE_GROUP_STEPS // workers
    processes = [
        WorkerProcess(home / f"worker-{workers}-{i}.log", per_worker, queue, dict(os.environ))
        for i in range(workers)
    ]
    try:
        for process in processes:
            process.launch()
        for process in processes:
            process.wait_ready()
        upstream.admin("stats/reset", {})
        print(f"scale bench: {workers} worker(s)", flush=True)
        result = execute_celery_stores(instance, queue)
        stats = upstream.admin("stats")["limit_groups"]["stores"]
    finally:
        for process in processes:
            process.stop()
    if not result.success:
        raise RuntimeError(f"bench scale: the run on {workers} worker(s) failed")
    retried = [
        f"{r.dagster_event.step_key}: {retry_reason(r.dagster_event.event_specific_data)}"
        for r in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    ]
    for line in retried:
        print(f"scale bench: step retried: {line[:300]}", flush=True)
    starts = [
        r.timestamp
        for r in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_START)
    ]
    ends = [
        r.timestamp
        for r in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
    ]
    outputs = [
        {k: v.value for k, v in r.dagster_event.event_specific_data.metadata.items()}
        for r in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT)
    ]
    steps_wall_s = max(ends) - min(starts)
    wall_s = sync_wall_s(result.run_id)
    served = stats.get("served", 0)
    return {
        "workers": workers,
        "per_worker": per_worker,
        "wall_s": wall_s,
        "steps_wall_s": steps_wall_s,
        "served": served,
        "utilization": served / RPS / wall_s,
        "throttled": stats.get("throttled", 0),
        "max_in_1s": stats.get("max_requests_in_1s", 0),
        "retries": len(retried),
        "client_requests": sum(o["requests"] for o in outputs),
        "client_retries": sum(o.get("retries", 0) for o in outputs),
        "step_outputs": len(outputs),
        "step_starts": len(starts),
        "stores_ok": sum(o["stores_ok"] for o in outputs),
        "workers_used": len({o["worker_pid"] for o in outputs} & {p.pid for p in processes}),
    }


def retry_reason(data) -> str:
    """The first line of a retried step's error."""
    error = getattr(data, "error", None)
    return error.message.strip().splitlines()[0] if error is not None else "no error recorded"


def sync_wall_s(run_id: str) -> float:
    """First group's start of work to the last group's end, from the groups' `sync_logs` rows."""
    import psycopg

    from sync_pipeline.db.urls import DatabaseUrl

    url = DatabaseUrl.parse(os.environ["SYNC_DATABASE_URL"])
    query = (
        "SELECT max(extract(epoch FROM run_time)) - min(extract(epoch FROM run_time) - duration_s) "
        "FROM sync_logs WHERE run_id = %s AND store_code IS NULL"
    )
    with psycopg.connect(url.conninfo()) as conn:
        (wall,) = conn.execute(query, (run_id,)).fetchone()
    return float(wall)


def print_table(rows: list[dict], stores: int) -> None:
    print(f"\n{stores} stores, seed latencies, limit {RPS:g} requests/s")
    print(
        f"{'workers':>7} {'processes':>10} {'sync s':>7} {'steps s':>7} {'requests':>9} "
        f"{'utilization':>11} {'429s':>5} {'max/1s':>6}"
    )
    for r in rows:
        print(
            f"{r['workers']:>7} {r['per_worker']:>10} {r['wall_s']:>7.1f} "
            f"{r['steps_wall_s']:>7.1f} {r['served']:>9} {r['utilization']:>11.3f} "
            f"{r['throttled']:>5} {r['max_in_1s']:>6}"
        )
    print()
