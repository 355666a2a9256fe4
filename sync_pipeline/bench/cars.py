"""`sync-pipeline bench cars`: the cars pipeline and dlt over the same upstream, side by side.

One reference upstream (profile `none`, 200k cars, `--quick`: 50k) serves both tools, pages of
1000 for both, into PostgreSQL on the application's server. Cases, each measured for ours and
for dlt in the same run, one after the other (never concurrently: WAL is server-wide):

1. first load into a fresh target: ours into a freshly created and migrated scratch database,
   dlt into fresh datasets (schemas) of a second scratch database, one per dlt configuration
   (both databases are dropped at the end);
2. unchanged re-sync: ours a full refresh (the scope that detects delistings), three runs, and
   for context ours' incremental scope (today's `updated_at` window, as the hourly schedule
   runs it); dlt its fastest full configuration, `upsert` + `skip_unchanged_rows`, and its
   incremental cursor on `updated_at` (bound to `updated_since`: one page; no deletions);
3. re-sync after `/_admin/mutate` changed 1% of the cars and touched another 5% (volatile
   fields only): ours must write exactly the changed 1%;
4. ours alone under the `seed` profile (20 requests/s): pages/s of a window sync with pages of
   100, over at least 30 s of pages (`--quick`: 10 s).

Figures: wall time (ours: `sync_cars` from the client's creation to its outcome, the pool
opened before; dlt: `pipeline.run`, timed inside the runner, so dlt's interpreter start and
imports are not counted against it), rows written to the target's data tables (the
`pg_stat_user_tables` delta of `n_tup_ins + n_tup_upd + n_tup_del`, read after every backend of
the run has closed; ours: `cars`, dlt: `cars` and its child table `cars__features`, not the
bookkeeping tables of either tool, which are shown apart) and WAL (the server's
`pg_current_wal_lsn()` delta, so other sessions on the server count against the tool measured:
an upper bound). Ours' unchanged re-sync runs five times: time is the best run (neighbours on
a shared machine only ever slow a run down), rows written the most, WAL the least. Each run's
details (in the JSON) include the machine's CPU busy share meanwhile, to tell a disturbed run.

Between the cases, both scratch databases are vacuumed and analyzed (not measured), as
autovacuum would do on its own some time after a big load or rewrite: otherwise autovacuum
workers chewing through dlt's million-row tables would run, unpredictably, during the next
case's measurements of either tool.

dlt runs from its own virtualenv (`.sync_pipeline/bench-venvs/dlt`, created on first use), not
from the project's environment, through `dlt_runner.py`. Run it as
`flock /tmp/sync_bench.lock sync-pipeline bench cars --json /tmp/bench-cars.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.scratch import scratch_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.engine.http import ApiClient, ClientConfig, shared_key_for
from sync_pipeline.errors import ConfigError
from sync_pipeline.pipelines.cars import (
    CarsScope,
    CarsSyncOutcome,
    CarsSyncSettings,
    sync_cars,
)
from sync_pipeline.settings import state_dir
from sync_pipeline.upstream.auth import token_label
from sync_pipeline.upstream.process import UpstreamProcess

MB = 1_000_000
PAGE_SIZE = 1000
# Ours: the engine's default batching (5000 rows per transaction, 2 in flight) and 8 pages in
# flight. Measured on the 2-core machine, 1000-20000 rows per batch, 2-4 batches and 4-16 pages
# in flight all land within the noise of one another: the client's CPU (one core, the GIL:
# JSON parsing, fingerprints, typing) is the limit, not the database or the wire.
OUR_SETTINGS = CarsSyncSettings(page_size=PAGE_SIZE, batch_size=5000, parallel_batches=2)
OUR_CONCURRENCY = 8
UNCHANGED_RUNS = 5
UPDATE_SHARE, TOUCH_SHARE = 0.01, 0.05

SEED_RPS = 20.0
SEED_PAGE_SIZE = 100
SEED_TARGET_PAGES_PER_S = 19.5

DLT_REQUIREMENT = "dlt[postgres]>=1.31,<1.32"
DLT_VERSION_PREFIX = "1.31."
DLT_RUN_TIMEOUT_S = 600
# dlt's fastest settings for this load, as the issue measured them: csv loader (COPY), two
# normalize workers over extract files of 50k items, four load workers, no compression.
DLT_FAST_ENV = {"NORMALIZE__WORKERS": "2", "SOURCES__DATA_WRITER__FILE_MAX_ITEMS": "50000", "LOAD__WORKERS": "4",
                "DATA_WRITER__DISABLE_COMPRESSION": "true", "RUNTIME__DLTHUB_TELEMETRY": "false",
                "RUNTIME__LOG_LEVEL": "WARNING"}
DLT_DATA_TABLES = ("cars", "cars__features")


@dataclass(frozen=True)
class DltConfig:
    """One dlt configuration: its runner mode, dataset, and how the figures name it."""

    name: str
    mode: str
    dataset: str
    label: str
    loader_file_format: str = "csv"
    work_mem: str | None = None


DLT_FAST = DltConfig("fast", "full_merge", "dlt_fast", "dlt merge, fastest config")
DLT_SKIP = DltConfig("skip", "upsert_skip_unchanged", "dlt_skip", "dlt upsert + skip_unchanged_rows",
                     work_mem="256MB")
DLT_INCREMENTAL = DltConfig("incremental", "incremental", "dlt_incremental", "dlt incremental on updated_at")


@dataclass(frozen=True)
class Plan:
    cars: int
    dlt_configs: tuple[DltConfig, ...]
    seed_window_s: float
    suffix: str  # added to every figure name, so a quick run can never pass for a full one


FULL = Plan(cars=200_000, dlt_configs=(DLT_FAST, DLT_SKIP, DLT_INCREMENTAL), seed_window_s=32.0, suffix="")
QUICK = Plan(cars=50_000, dlt_configs=(DLT_FAST, DLT_INCREMENTAL), seed_window_s=10.0, suffix=" [quick: 50k cars]")


NOTES = {
    "dlt_incremental": "rest_api binds the incremental cursor on updated_at to the API's updated_since "
                       "parameter, so an unchanged re-sync asks for one page; it cannot see deletions.",
    "dlt_time": "pipeline.run() timed inside the runner: the interpreter's start and dlt's imports are not counted.",
    "rows_written": "n_tup_ins + n_tup_upd + n_tup_del of the data tables (ours: cars; dlt: cars, cars__features); "
                    "the tools' bookkeeping (sync_checkpoints, sync_change_log; _dlt_* and the staging dataset) apart.",
    "wal": "pg_current_wal_lsn() delta of the whole server: other sessions' writes count against the tool measured.",
}


@dataclass
class Measured:
    """One run of one tool in one case."""

    seconds: float
    written: int
    wal_bytes: int
    bookkeeping_written: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def wal_mb(self) -> float:
        return self.wal_bytes / MB


def run(options: BenchOptions) -> BenchReport:
    plan = QUICK if options.quick else FULL
    report = BenchReport("cars")
    began = time.perf_counter()
    python = ensure_dlt_venv()
    sizes = {"cars": plan.cars, "users": 100, "stores": 1, "leaderboard_entries": 1, "contacts": 10, "workspaces": 1}
    env: dict[str, Any] = {"cars": plan.cars, "page_size": PAGE_SIZE, "quick": options.quick,
                           "ours": {"batch_size": OUR_SETTINGS.batch_size,
                                    "parallel_batches": OUR_SETTINGS.parallel_batches,
                                    "concurrency": OUR_CONCURRENCY, "rps": None, "unchanged_runs": UNCHANGED_RUNS},
                           "dlt": {"requirement": DLT_REQUIREMENT, "env": DLT_FAST_ENV,
                                   "configs": {c.name: {"mode": c.mode, "loader_file_format": c.loader_file_format,
                                                        "work_mem": c.work_mem} for c in plan.dlt_configs}},
                           "skipped": [] if not options.quick else [f"{DLT_SKIP.label} (quick run)"]}
    print(f"bench cars: {plan.cars:,} cars, pages of {PAGE_SIZE}; ours batch_size={OUR_SETTINGS.batch_size} "
          f"parallel_batches={OUR_SETTINGS.parallel_batches} concurrency={OUR_CONCURRENCY}; dlt {', '.join(c.name for c in plan.dlt_configs)}",
          flush=True)
    with ExitStack() as stack:
        upstream = stack.enter_context(UpstreamProcess(profile="none", sizes=sizes))
        ours_url = stack.enter_context(scratch_database("sync_bench_cars_ours"))
        dlt_url = stack.enter_context(scratch_database("sync_bench_cars_dlt"))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cars-dlt-")))
        observer = stack.enter_context(psycopg.connect(ours_url.conninfo(), autocommit=True))
        dlt_observer = stack.enter_context(psycopg.connect(dlt_url.conninfo(), autocommit=True))
        dlt = DltSide(python, upstream.url, dlt_url, workdir, dlt_observer)
        env["dlt"]["version"] = dlt_version(python)

        # 1. first load
        first = measure_ours(ours_url, observer, upstream.url, "bench-first")
        dlt_first = {c.name: dlt.run(c, "first load") for c in plan.dlt_configs}
        env["settle_s"] = [settle(ours_url, dlt_url)]
        # 2. unchanged re-sync
        unchanged = [measure_ours(ours_url, observer, upstream.url, f"bench-unchanged-{n}")
                     for n in range(UNCHANGED_RUNS)]
        window = todays_window()
        unchanged_window = measure_ours(ours_url, observer, upstream.url, "bench-unchanged-window", window)
        dlt_unchanged = {c.name: dlt.run(c, "unchanged re-sync") for c in plan.dlt_configs}
        env["settle_s"].append(settle(ours_url, dlt_url))
        # 3. 1% updated, 5% touched
        mutation = upstream.admin("mutate", {"source": "cars", "update": UPDATE_SHARE, "touch": TOUCH_SHARE})
        mutated = measure_ours(ours_url, observer, upstream.url, "bench-mutated")
        mutated.details["written_ids_match"] = written_ids_match(observer, "bench-mutated", mutation["updated"])
        dlt_mutated = {c.name: dlt.run(c, "1%/5% re-sync") for c in plan.dlt_configs}
        # 4. the seed profile
        seed = measure_seed(ours_url, upstream, plan.seed_window_s)

    s = plan.suffix
    report_first_load(report, s, first, dlt_first, plan)
    report_unchanged(report, s, unchanged, unchanged_window, dlt_unchanged, plan)
    report_mutated(report, s, mutated, dlt_mutated, mutation, plan)
    report_seed(report, s, seed, plan)
    env["mutation"] = {"updated": len(mutation["updated"]), "touched": len(mutation["touched"])}
    env["ours_runs"] = {"first": first.details, "unchanged": [m.details for m in unchanged],
                        "unchanged_window": unchanged_window.details, "mutated": mutated.details}
    env["notes"] = NOTES
    env["dlt_runs"] = {case: {name: m.details | ({"error": m.error} if m.error else {}) for name, m in runs.items()}
                       for case, runs in (("first", dlt_first), ("unchanged", dlt_unchanged), ("mutated", dlt_mutated))}
    env["seed"] = seed.details
    env["wall_s"] = round(time.perf_counter() - began, 1)
    report.environment.update(env)
    return report


# --- ours -------------------------------------------------------------------------------------

def measure_ours(url: DatabaseUrl, observer: psycopg.Connection, base_url: str, run_id: str,
                 scope: CarsScope | None = None) -> Measured:
    """One `sync_cars` of `scope` (default: the full refresh) with no rate limit. The pool is
    opened before the clock starts (an application keeps one) and closed before the figures are
    read, which ends its backends and so flushes their statistics."""
    scope = scope or CarsScope.full_refresh()
    config = ClientConfig(base_url, name="cars", rps=None, concurrency=OUR_CONCURRENCY)
    before = table_writes(observer)
    maintenance_before = autovacuum_runs(observer, "public")
    wal_before = wal_lsn(observer)
    with open_pool(url, max_size=OUR_SETTINGS.parallel_batches + 1, name="bench_cars") as pool:
        busy, cpu = machine_busy_s(), time.process_time()
        started = time.perf_counter()
        outcome = asyncio.run(_sync(pool, config, scope, run_id, OUR_SETTINGS))
        seconds = time.perf_counter() - started
        busy, cpu = machine_busy_s() - busy, time.process_time() - cpu
    wal = wal_since(observer, wal_before)
    after = table_writes(observer)
    written = after.get("cars", 0) - before.get("cars", 0)
    bookkeeping = sum(after.values()) - sum(before.values()) - written
    r = outcome.result
    details = {"seconds": round(seconds, 3), "written": written, "wal_bytes": wal, "bookkeeping_written": bookkeeping,
               "inserted": r.inserted, "updated": r.updated, "unchanged": r.unchanged, "delisted": r.soft_deleted,
               "quarantined": r.quarantined, "diffs_logged": r.diffs_logged, "live_rows": outcome.live_rows,
               "scope": scope.label, "pages": outcome.walk.pages, "requests": outcome.http.get("requests", 0),
               "autovacuum_or_analyze_meanwhile": autovacuum_runs(observer, "public") - maintenance_before,
               "own_cpu_s": round(cpu, 3), "machine_busy_share": round(busy / (seconds * (os.cpu_count() or 1)), 3)}
    print(f"  ours {run_id}: {seconds:.2f} s, {written:,} rows written, WAL {wal / MB:.2f} MB", flush=True)
    return Measured(seconds, written, wal, bookkeeping, details)


async def _sync(pool, config: ClientConfig, scope: CarsScope, run_id: str, settings: CarsSyncSettings,
                limiter_conninfo: str | None = None) -> CarsSyncOutcome:
    async with ApiClient(config, limiter_conninfo=limiter_conninfo) as client:
        return await sync_cars(pool, client, scope, run_id, settings, progress_label=f"cars {run_id}")


def todays_window() -> CarsScope:
    """The scope the hourly schedule syncs: today's UTC `updated_at` day (its partition)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return CarsScope.for_window(today.strftime("%Y-%m-%d"), today, today + timedelta(days=1))


def written_ids_match(observer: psycopg.Connection, run_id: str, updated_ids: list[int]) -> bool:
    """Whether the rows the run rewrote are exactly the cars the upstream changed."""
    rows = observer.execute("SELECT id FROM cars WHERE last_run_id = %s", (run_id,)).fetchall()
    return {row[0] for row in rows} == set(updated_ids)


@dataclass
class SeedRun:
    pages_per_s: float
    details: dict[str, Any]


def measure_seed(url: DatabaseUrl, upstream: UpstreamProcess, window_s: float) -> SeedRun:
    """A window sync of about `window_s` seconds of pages of 100 under the `seed` profile, with
    the client as the Dagster resource builds it (20/s, 16 in flight, the PostgreSQL-shared
    bucket). Pages/s are the outcome's warm rate (after the first page), as the asset check's."""
    # The window is picked from the stored `updated_at`s, with a margin: cars touched upstream
    # (volatile fields only) keep their old stored `updated_at`, but left the window upstream.
    records = int(window_s * SEED_RPS * SEED_PAGE_SIZE * 1.1) + SEED_PAGE_SIZE
    with psycopg.connect(url.conninfo(), autocommit=True) as conn:
        since, until = conn.execute(
            "SELECT min(updated_at), (SELECT updated_at FROM cars ORDER BY updated_at OFFSET %s LIMIT 1) FROM cars",
            (records,)).fetchone()
        if until is None:  # fewer cars than the window asks for: take them all
            until = conn.execute("SELECT max(updated_at) FROM cars").fetchone()[0] + timedelta(milliseconds=1)
    scope = CarsScope.for_window("bench-seed-window", since, until)
    expected = httpx.get(f"{upstream.url}/cars", params={**scope.query_params(), "page_size": 1},
                         timeout=30).json()["total"]
    upstream.admin("faults", {"source": "cars", "profile": "seed"})
    upstream.admin("stats/reset", {})  # the figures below are the seed phase's alone
    token = None
    config = ClientConfig(upstream.url, name="cars", rps=SEED_RPS, concurrency=16,
                          shared_limiter_key=f"{shared_key_for('cars', token)}:bench-{uuid.uuid4().hex[:6]}")
    settings = CarsSyncSettings(page_size=SEED_PAGE_SIZE, batch_size=OUR_SETTINGS.batch_size,
                                parallel_batches=OUR_SETTINGS.parallel_batches)
    print(f"  ours under the seed profile: window of {expected:,} cars ({expected / SEED_PAGE_SIZE:.0f} pages) "
          f"at {SEED_RPS:g}/s ...", flush=True)
    with open_pool(url, max_size=OUR_SETTINGS.parallel_batches + 1, name="bench_cars_seed") as pool:
        outcome = asyncio.run(_sync(pool, config, scope, "bench-seed", settings, limiter_conninfo=url.conninfo()))
    stats = upstream.admin("stats")["limit_groups"]["cars"]["tokens"][token_label(token)]
    pages_per_s, rows_per_s = outcome.warm_rates
    span = outcome.walk.elapsed_s - outcome.walk.first_page_s
    details = {"window_records": expected, "pages": outcome.walk.pages, "records": outcome.walk.records,
               "warm_span_s": round(span, 2), "pages_per_s": round(pages_per_s, 3), "rows_per_s": round(rows_per_s, 1),
               "upstream_429": stats["throttled"], "upstream_max_requests_in_1s": stats["max_requests_in_1s"],
               "client_429": outcome.http.get("http_429", 0), "latency_p50_ms": outcome.http.get("latency_p50_ms"),
               "latency_p95_ms": outcome.http.get("latency_p95_ms"), "limiter": "shared (PostgreSQL)",
               "client_rps": SEED_RPS, "client_paced_rps": config.paced_rps}
    print(f"  ours seed: {pages_per_s:.2f} pages/s over {span:.1f} s, {stats['throttled']} 429s", flush=True)
    return SeedRun(pages_per_s, details)


# --- dlt --------------------------------------------------------------------------------------

def dlt_venv_dir() -> Path:
    return state_dir() / "bench-venvs" / "dlt"


def ensure_dlt_venv() -> Path:
    """The python of the dlt virtualenv, created and installed on first use (cached after).

    Raises `ConfigError` with pip's last lines when the virtualenv cannot be made.
    """
    venv = dlt_venv_dir()
    python = venv / "bin" / "python"
    if python.exists():
        version = dlt_version(python, strict=False)
        if version and version.startswith(DLT_VERSION_PREFIX):
            print(f"dlt {version}: using the cached virtualenv {venv}", flush=True)
            return python
        print(f"dlt virtualenv {venv} holds {version or 'no dlt'}; reinstalling", flush=True)
    log = venv.parent / "dlt-install.log"
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"creating the dlt virtualenv {venv} (python -m venv, pip install \"{DLT_REQUIREMENT}\"; "
          f"log: {log}) ...", flush=True)
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "--disable-pip-version-check", DLT_REQUIREMENT]]
    with log.open("w") as out:
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            try:
                done = subprocess.run(step, check=False, stdout=out, stderr=subprocess.STDOUT, timeout=900)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(f"could not create the dlt virtualenv for the benchmark: {exc}; see {log}") from None
            if done.returncode != 0:
                tail = " | ".join(line[:200] for line in log.read_text().strip().splitlines()[-2:])
                raise ConfigError(f"could not create the dlt virtualenv for the benchmark: `{' '.join(step[-3:])}` "
                                  f"exited with {done.returncode} ({tail}); full log: {log}")
    version = dlt_version(python)
    print(f"dlt {version} installed in {venv}", flush=True)
    return python


def dlt_version(python: Path, strict: bool = True) -> str | None:
    done = subprocess.run([str(python), "-I", "-c", "import dlt; print(dlt.__version__)"],
                          check=False, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        if strict:
            raise ConfigError(f"dlt does not import in {python}: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return done.stdout.strip()


def runner_args(config: DltConfig, base_url: str, url: DatabaseUrl, pipelines_dir: Path) -> dict[str, Any]:
    """The JSON arguments of `dlt_runner.py` for one configuration."""
    params = conninfo_to_dict(url.conninfo())
    credentials = {"host": params.get("host") or "localhost", "port": int(params.get("port") or 5432),
                   "user": params.get("user") or "postgres", "password": params.get("password"),
                   "database": params["dbname"]}
    return {"base_url": base_url, "page_size": PAGE_SIZE, "credentials": credentials, "dataset": config.dataset,
            "pipeline_name": f"bench_cars_{config.name}", "pipelines_dir": str(pipelines_dir),
            "mode": config.mode, "loader_file_format": config.loader_file_format, "work_mem": config.work_mem,
            "env": DLT_FAST_ENV}


class DltSide:
    """Runs `dlt_runner.py` with the dlt virtualenv's python and measures each run."""

    def __init__(self, python: Path, base_url: str, url: DatabaseUrl, workdir: Path,
                 observer: psycopg.Connection) -> None:
        self.python, self.base_url, self.url, self.workdir, self.observer = python, base_url, url, workdir, observer

    def run(self, config: DltConfig, case: str) -> Measured:
        args = runner_args(config, self.base_url, self.url, self.workdir / "pipelines")
        before = dataset_writes(self.observer, config.dataset)
        maintenance_before = autovacuum_runs(self.observer, config.dataset)
        wal_before = wal_lsn(self.observer)
        busy = machine_busy_s()
        started = time.perf_counter()
        try:
            done = subprocess.run([str(self.python), "-I", str(Path(__file__).with_name("dlt_runner.py")),
                                   json.dumps(args)], check=False, capture_output=True, text=True, cwd=self.workdir,
                                  timeout=DLT_RUN_TIMEOUT_S)
            stdout, stderr, code = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired:
            stdout, stderr, code = "", f"timed out after {DLT_RUN_TIMEOUT_S} s", -1
        process_s = time.perf_counter() - started
        busy = machine_busy_s() - busy
        wal = wal_since(self.observer, wal_before)
        after = dataset_writes(self.observer, config.dataset)
        result = _last_json_line(stdout)
        if code != 0 or not result.get("ok"):
            error = result.get("error") or (stderr.strip().splitlines() or ["no output"])[-1]
            print(f"  {config.label}, {case}: FAILED: {error}", file=sys.stderr, flush=True)
            return Measured(process_s, -1, wal, error=error)
        data = {t: after.get(t, 0) - before.get(t, 0) for t in after if not t.startswith(("_dlt", "!"))}
        written = sum(data.values())
        bookkeeping = sum(after.values()) - sum(before.values()) - written
        seconds = float(result["run_s"])
        details = {"seconds": round(seconds, 3), "process_s": round(process_s, 3), "written": written,
                   "written_by_table": data, "wal_bytes": wal, "bookkeeping_and_staging_written": bookkeeping,
                   "steps_s": result.get("steps_s", {}),
                   "autovacuum_or_analyze_meanwhile": autovacuum_runs(self.observer, config.dataset) - maintenance_before,
                   "rows": table_counts(self.observer, config.dataset),
                   "machine_busy_share": round(busy / (process_s * (os.cpu_count() or 1)), 3)}
        print(f"  {config.label}, {case}: {seconds:.2f} s (process {process_s:.2f} s), {written:,} rows written, "
              f"WAL {wal / MB:.1f} MB", flush=True)
        return Measured(seconds, written, wal, bookkeeping, details)


def _last_json_line(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


# --- database figures -------------------------------------------------------------------------

def settle(*urls: DatabaseUrl) -> float:
    """VACUUM (ANALYZE) each database, outside any measurement; returns the seconds it took."""
    started = time.perf_counter()
    for url in urls:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
    seconds = time.perf_counter() - started
    print(f"  (settling: VACUUM (ANALYZE) of both scratch databases, not measured: {seconds:.1f} s)", flush=True)
    return round(seconds, 2)


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores, every process), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wal_lsn(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]


def wal_since(conn: psycopg.Connection, lsn: str) -> int:
    return conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint", (lsn,)).fetchone()[0]


def _settled(conn: psycopg.Connection, query: sql.Composable, params: tuple) -> dict[str, int]:
    """{table: n_tup_ins + n_tup_upd + n_tup_del}, read until three readings agree (closed
    backends flush their statistics shortly after they exit)."""
    readings: list[dict[str, int]] = []
    for _ in range(60):
        conn.execute("SELECT pg_stat_clear_snapshot()")
        readings.append(dict(conn.execute(query, params).fetchall()))
        if len(readings) >= 3 and readings[-1] == readings[-2] == readings[-3]:
            break
        time.sleep(0.05)
    return readings[-1]


def table_writes(conn: psycopg.Connection) -> dict[str, int]:
    """Writes per table of ours' scratch database (schema public)."""
    return _settled(conn, sql.SQL("SELECT relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::bigint "
                                  "FROM pg_stat_user_tables WHERE schemaname = 'public'"), ())


def dataset_writes(conn: psycopg.Connection, dataset: str) -> dict[str, int]:
    """Writes per table of one dlt dataset; its staging dataset's tables are prefixed with '!'."""
    return _settled(conn, sql.SQL(
        "SELECT CASE WHEN schemaname = %s THEN '' ELSE '!' END || relname, (n_tup_ins + n_tup_upd + n_tup_del)::bigint "
        "FROM pg_stat_user_tables WHERE schemaname IN (%s, %s)"), (dataset, dataset, f"{dataset}_staging"))


def autovacuum_runs(conn: psycopg.Connection, schema: str) -> int:
    """Autovacuum and autoanalyze runs so far on the tables of `schema` (they write WAL too)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0)::bigint "
                        "FROM pg_stat_user_tables WHERE schemaname = %s", (schema,)).fetchone()[0]


def table_counts(conn: psycopg.Connection, dataset: str) -> dict[str, int]:
    counts = {}
    for table in DLT_DATA_TABLES:
        try:
            counts[table] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(dataset, table))).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            counts[table] = 0
    return counts


# --- figures ----------------------------------------------------------------------------------

def _dlt_figures(report: BenchReport, s: str, case: str, config: DltConfig, measured: Measured) -> bool:
    """A dlt run's figures (all for context); False (and a failed figure) when it did not run."""
    if measured.error:
        report.equal(f"{case}: {config.label} ran{s}", 0, "ok", 1)
        return False
    report.info(f"{case}: {config.label}, wall{s}", measured.seconds, "s")
    report.info(f"{case}: {config.label}, rows written (cars + cars__features){s}", measured.written, "rows")
    report.info(f"{case}: {config.label}, WAL (whole server){s}", measured.wal_mb, "MB")
    return True


def report_first_load(report: BenchReport, s: str, ours: Measured, dlt: dict[str, Measured], plan: Plan) -> None:
    case = "first load"
    report.at_most(f"{case}: ours, wall{s}", ours.seconds, "s", 7)
    report.equal(f"{case}: ours, rows written (cars){s}", ours.written, "rows", plan.cars)
    report.info(f"{case}: ours, WAL (whole server){s}", ours.wal_mb, "MB")
    for config in plan.dlt_configs:
        if _dlt_figures(report, s, case, config, dlt[config.name]) and config is DLT_FAST:
            report.at_least(f"{case}: ratio {config.label} / ours{s}", dlt[config.name].seconds / ours.seconds,
                            "x", 3)


def report_unchanged(report: BenchReport, s: str, runs: list[Measured], window: Measured, dlt: dict[str, Measured],
                     plan: Plan) -> None:
    case = "unchanged re-sync"
    best = min(m.seconds for m in runs)
    report.at_most(f"{case}: ours full refresh, wall (best of {len(runs)}){s}", best, "s", 3)
    report.info(f"{case}: ours full refresh, wall (median of {len(runs)}){s}",
                statistics.median(m.seconds for m in runs), "s")
    report.equal(f"{case}: ours, rows written (cars, most of {len(runs)}){s}", max(m.written for m in runs), "rows", 0)
    report.at_most(f"{case}: ours, WAL (whole server, least of {len(runs)}){s}", min(m.wal_mb for m in runs), "MB", 1)
    report.info(f"{case}: ours, bookkeeping rows written (checkpoint){s}", max(m.bookkeeping_written for m in runs),
                "rows")
    incremental = "ours incremental (today's updated_at window, as hourly)"
    report.info(f"{case}: {incremental}, wall{s}", window.seconds, "s")
    report.info(f"{case}: {incremental}, rows written{s}", window.written, "rows")
    for config in plan.dlt_configs:
        if not _dlt_figures(report, s, case, config, dlt[config.name]):
            continue
        ratio = dlt[config.name].seconds / best
        name = f"{case}: ratio {config.label} / ours full refresh{s}"
        if config is DLT_FAST:
            report.at_least(name, ratio, "x", 6)
        elif config is DLT_INCREMENTAL:
            report.at_least(name, ratio, "x", 1)
            report.info(f"{case}: ratio {config.label} / ours incremental{s}",
                        dlt[config.name].seconds / window.seconds, "x")
        else:
            report.info(name, ratio, "x")


def report_mutated(report: BenchReport, s: str, ours: Measured, dlt: dict[str, Measured], mutation: dict,
                   plan: Plan) -> None:
    case = "1% updated + 5% touched"
    updated = len(mutation["updated"])
    report.info(f"{case}: cars updated upstream (business fields){s}", updated, "rows")
    report.info(f"{case}: cars touched upstream (volatile fields only){s}", len(mutation["touched"]), "rows")
    report.info(f"{case}: ours, wall{s}", ours.seconds, "s")
    report.equal(f"{case}: ours, rows written (cars){s}", ours.written, "rows", updated)
    report.equal(f"{case}: ours, rewritten ids == updated ids{s}", int(ours.details["written_ids_match"]), "bool", 1)
    report.info(f"{case}: ours, WAL (whole server){s}", ours.wal_mb, "MB")
    report.info(f"{case}: ours, change-log and checkpoint rows written{s}", ours.bookkeeping_written, "rows")
    for config in plan.dlt_configs:
        if _dlt_figures(report, s, case, config, dlt[config.name]):
            report.info(f"{case}: ratio {config.label} / ours{s}", dlt[config.name].seconds / ours.seconds, "x")


def report_seed(report: BenchReport, s: str, seed: SeedRun, plan: Plan) -> None:
    d = seed.details
    window = f"{d['warm_span_s']:.0f} s of pages of {SEED_PAGE_SIZE}"
    report.at_least(f"seed profile ({SEED_RPS:g}/s): ours pages/s sustained ({window}){s}", seed.pages_per_s,
                    "pages/s", SEED_TARGET_PAGES_PER_S)
    report.at_least(f"seed profile: pages measured over{s}", d["warm_span_s"], "s", plan.seed_window_s * 30 / 32)
    report.equal(f"seed profile: 429s (upstream's count){s}", d["upstream_429"], "count", 0)
    report.info(f"seed profile: max requests in any 1 s (upstream's count){s}", d["upstream_max_requests_in_1s"],
                "requests")
