"""`sync-pipeline bench cars`: the cars pipeline and dlt over the same upstream, side by side.

One reference upstream (profile `none`, 200k cars, `--quick`: 50k) serves both tools, pages of
1000 for both, into PostgreSQL on the application's server. Ours runs with the shipped defaults
(`CarsSyncSettings()`: pages of 1000, 5000 rows per transaction, 2 in flight; the `cars_api`
resource's 16 requests in flight and PostgreSQL-shared limiter), with the rate limit lifted
(`RPS` 1e6: the upstream has none, and 20/s would measure the limit, not the tools).

Every case runs `ROUNDS` (3) times for every tool, interleaved (ours, then dlt, round after
round; never concurrently: WAL is server-wide), and every compared figure is the median of all
rounds on both sides (`runs.py`; a failed run, or a dlt load with failed jobs, fails the case):

1. first load into a fresh target, each round: ours in-process into a fresh migrated scratch
   database; ours as the whole command (`sync-pipeline sync cars --full-refresh`, a process of
   its own, start to exit) into a second fresh one; dlt into fresh datasets of a third;
2. unchanged re-sync: ours full refresh (in-process and whole command) and ours incremental
   partition (today's `updated_at` window, as the hourly schedule); dlt `upsert` +
   `skip_unchanged_rows` (its content comparison: the like-for-like peer of our full refresh)
   and dlt incremental on `updated_at` (bound to `updated_since`: the peer of our partition);
3. re-sync after `/_admin/mutate` changed 1% of the cars and touched another 5% (volatile
   fields only), a new mutation each round: ours must write exactly the changed 1%;
4. ours alone under the `seed` profile (20 requests/s): pages/s of a window sync with pages of
   100, over at least 30 s of pages (`--quick`: 10 s).

Pairs with targets: in-process against in-process (ours `sync_cars` from the client's creation
to its outcome, the pool opened before; dlt `pipeline.run` timed inside its runner), whole
process against whole process (ours the `sync` command, dlt its runner's interpreter from start
to exit). dlt's `merge` (delete-insert, fastest configuration) is shown for context only: it
detects no change by content. Rows written are the `pg_stat_user_tables` delta of the data
tables (ours `cars`; dlt `cars` and `cars__features`), WAL the server's `pg_current_wal_lsn()`
delta (other sessions count against the tool measured: an upper bound). Each run's details (in
the JSON) include the machine's CPU busy share meanwhile, to tell a disturbed run.

Between the cases the scratch databases are vacuumed and analyzed (not measured), as autovacuum
would do some time after a big load, so that its workers do not run during the next case; in the
unchanged re-sync, whose WAL has a target, also before every round: autovacuum cleaning up after
the previous round's dlt loads (a few hundred MB of WAL each) otherwise wrote into our run's
server-wide WAL figure (0.21, 0.84 and 1.24 MB over three rounds of the same run, seen once).

dlt runs from its own virtualenv (`.sync_pipeline/bench-venvs/dlt`, created on first use), not
from the project's environment, through `dlt_runner.py`. Run it as
`flock /tmp/sync_bench.lock sync-pipeline bench cars --json /tmp/bench-cars.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from sync_pipeline.bench import dlt_runner
from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.bench.runs import (
    MB,
    Measured,
    Runs,
    report_median,
    report_median_ratio,
    report_same_count,
)
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.scratch import scratch_dagster_database, scratch_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.engine.http import ApiClient, ClientConfig, shared_key_for
from sync_pipeline.errors import ConfigError
from sync_pipeline.pipelines.cars import (
    CarsScope,
    CarsSyncOutcome,
    CarsSyncSettings,
    sync_cars,
)
from sync_pipeline.settings import source_env_names, state_dir
from sync_pipeline.upstream.auth import token_label
from sync_pipeline.upstream.process import UpstreamProcess

SHIPPED = CarsSyncSettings()
PAGE_SIZE = SHIPPED.page_size
BENCH_RPS = 1_000_000.0
ROUNDS = 3
UPDATE_SHARE, TOUCH_SHARE = 0.01, 0.05
COMMAND_TIMEOUT_S = 600

# Targets (medians). In-process and whole-process pairs against dlt's like-for-like peers.
FIRST_LOAD_MAX_S, UNCHANGED_MAX_S, UNCHANGED_MAX_WAL_MB = 2.5, 1.2, 1.0
COMMAND_OVERHEAD_MAX_S = 1.5
FIRST_LOAD_MIN_RATIO, UNCHANGED_MIN_RATIO, INCREMENTAL_MIN_RATIO = 3.0, 6.0, 1.0
COMMAND_FIRST_LOAD_MIN_RATIO, COMMAND_UNCHANGED_MIN_RATIO = 4.0, 6.0

SEED_RPS = 20.0
SEED_PAGE_SIZE = 100
SEED_TARGET_PAGES_PER_S = 19.8

DLT_REQUIREMENT = "dlt[postgres]>=1.31,<1.32"
DLT_VERSION_PREFIX = "1.31."
DLT_RUN_TIMEOUT_S = 600
# dlt's fastest settings for this load, as the issue measured them: csv loader (COPY), two
# normalize workers over extract files of 50k items, four load workers, no compression.
DLT_FAST_ENV = {
    "NORMALIZE__WORKERS": "2",
    "SOURCES__DATA_WRITER__FILE_MAX_ITEMS": "50000",
    "LOAD__WORKERS": "4",
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "WARNING",
}
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
DLT_SKIP = DltConfig(
    "skip",
    "upsert_skip_unchanged",
    "dlt_skip",
    "dlt upsert + skip_unchanged_rows",
    work_mem="256MB",
)
DLT_INCREMENTAL = DltConfig(
    "incremental", "incremental", "dlt_incremental", "dlt incremental on updated_at"
)


@dataclass(frozen=True)
class Plan:
    cars: int
    dlt_configs: tuple[DltConfig, ...]
    seed_window_s: float
    suffix: str  # added to every figure name, so a quick run can never pass for a full one


# --quick keeps every like-for-like pair (skip, incremental) and drops the context-only merge.
FULL = Plan(
    cars=200_000, dlt_configs=(DLT_SKIP, DLT_INCREMENTAL, DLT_FAST), seed_window_s=32.0, suffix=""
)
QUICK = Plan(
    cars=50_000,
    dlt_configs=(DLT_SKIP, DLT_INCREMENTAL),
    seed_window_s=10.0,
    suffix=" [quick: 50k cars]",
)


NOTES = {
    "dlt_incremental": "rest_api binds the incremental cursor on updated_at to the API's "
    "updated_since parameter, so an unchanged re-sync asks for one page; it cannot see deletions.",
    "in_process": "ours: sync_cars from the client's creation to its outcome (pool opened before); "
    "dlt: pipeline.run() timed inside the runner (interpreter start and imports not counted).",
    "whole_command": "ours: `sync-pipeline sync cars --full-refresh` from spawn to exit (Dagster "
    "run on the project's instance, checks included); dlt: its runner's interpreter from spawn "
    "to exit.",
    "rows_written": "n_tup_ins + n_tup_upd + n_tup_del of the data tables (ours: cars; dlt: cars, "
    "cars__features); the tools' bookkeeping (sync_checkpoints, sync_change_log; _dlt_* and the "
    "staging dataset) apart.",
    "wal": "pg_current_wal_lsn() delta of the whole server: other sessions' writes count against "
    "the tool measured.",
    "settings": "ours: the shipped defaults (CarsSyncSettings(), the cars_api resource), RPS "
    "lifted to 1e6.",
}


@dataclass
class Cases:
    """Every tool's runs in every case, filled round by round."""

    plan: Plan
    runs: dict[str, Runs]

    @classmethod
    def empty(cls, plan: Plan) -> Cases:
        names = {
            "first_ours": "ours in-process",
            "first_command": "ours whole command",
            "unchanged_ours": "ours full refresh in-process",
            "unchanged_command": "ours whole command",
            "unchanged_window": "ours incremental partition",
            "mutated_ours": "ours in-process",
        }
        for config in plan.dlt_configs:
            for case in ("first", "unchanged", "mutated"):
                names[f"{case}_{config.name}"] = config.label
        return cls(plan, {key: Runs(label) for key, label in names.items()})

    def __getitem__(self, key: str) -> Runs:
        return self.runs[key]


def run(options: BenchOptions) -> BenchReport:
    plan = QUICK if options.quick else FULL
    report = BenchReport("cars")
    began = time.perf_counter()
    python = ensure_dlt_venv()
    sizes = {
        "cars": plan.cars,
        "users": 100,
        "stores": 1,
        "leaderboard_entries": 1,
        "contacts": 10,
        "workspaces": 1,
    }
    env: dict[str, Any] = {
        "cars": plan.cars,
        "page_size": PAGE_SIZE,
        "quick": options.quick,
        "rounds": ROUNDS,
        "ours": {
            "settings": "shipped defaults",
            "page_size": SHIPPED.page_size,
            "batch_size": SHIPPED.batch_size,
            "parallel_batches": SHIPPED.parallel_batches,
            "rps": BENCH_RPS,
        },
        "dlt": {
            "requirement": DLT_REQUIREMENT,
            "env": DLT_FAST_ENV,
            "configs": {
                c.name: {
                    "mode": c.mode,
                    "loader_file_format": c.loader_file_format,
                    "work_mem": c.work_mem,
                }
                for c in plan.dlt_configs
            },
        },
    }
    print(
        f"bench cars: {plan.cars:,} cars, pages of {PAGE_SIZE}, {ROUNDS} rounds; "
        f"ours: shipped defaults (batch_size={SHIPPED.batch_size}, "
        f"parallel_batches={SHIPPED.parallel_batches}); "
        f"dlt {', '.join(c.name for c in plan.dlt_configs)}",
        flush=True,
    )
    cases = Cases.empty(plan)
    with ExitStack() as stack:
        upstream = stack.enter_context(UpstreamProcess(profile="none", sizes=sizes))
        dlt_url = stack.enter_context(scratch_database("sync_bench_cars_dlt"))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cars-")))
        dlt_observer = stack.enter_context(psycopg.connect(dlt_url.conninfo(), autocommit=True))
        dlt = DltSide(python, upstream.url, dlt_url, workdir, dlt_observer)
        env["dlt"]["version"] = dlt_version(python)
        ours = OursSide(upstream.url, workdir, stack.enter_context(scratch_dagster_database()))

        # 1. first load, into fresh targets every round (the last round's stay for what follows)
        for n in range(ROUNDS):
            ours.fresh_targets(stack if n == ROUNDS - 1 else None)
            if n == 0:
                ours.prepare_command_storage()
            cases["first_ours"].add(ours.in_process(f"bench-first-{n}"))
            cases["first_command"].add(ours.whole_command())
            for config in plan.dlt_configs:
                dlt.reset(config)
                cases[f"first_{config.name}"].add(dlt.run(config, "first load"))
        env["settle_s"] = [settle(ours.url, ours.command_url, dlt_url)]
        # 2. unchanged re-sync
        window = todays_window()
        for n in range(ROUNDS):
            if n:
                env["settle_s"].append(settle(ours.url, ours.command_url, dlt_url))
            cases["unchanged_ours"].add(ours.in_process(f"bench-unchanged-{n}"))
            cases["unchanged_command"].add(ours.whole_command())
            cases["unchanged_window"].add(ours.in_process(f"bench-unchanged-window-{n}", window))
            for config in plan.dlt_configs:
                cases[f"unchanged_{config.name}"].add(dlt.run(config, "unchanged re-sync"))
        env["settle_s"].append(settle(ours.url, ours.command_url, dlt_url))
        # 3. 1% updated, 5% touched: a new mutation every round
        mutations = []
        for n in range(ROUNDS):
            mutation = upstream.admin(
                "mutate", {"source": "cars", "update": UPDATE_SHARE, "touch": TOUCH_SHARE}
            )
            mutations.append(
                {"updated": len(mutation["updated"]), "touched": len(mutation["touched"])}
            )
            mutated = cases["mutated_ours"].add(ours.in_process(f"bench-mutated-{n}"))
            mutated.details["expected_written"] = len(mutation["updated"])
            mutated.details["written_ids_match"] = written_ids_match(
                ours.observer, f"bench-mutated-{n}", mutation["updated"]
            )
            for config in plan.dlt_configs:
                cases[f"mutated_{config.name}"].add(dlt.run(config, "1%/5% re-sync"))
        # 4. the seed profile
        seed = measure_seed(ours.url, upstream, plan.seed_window_s)

    s = plan.suffix
    report_first_load(report, s, cases)
    report_unchanged(report, s, cases)
    report_mutated(report, s, cases, mutations)
    report_seed(report, s, seed, plan)
    env["mutations"] = mutations
    env["runs"] = {
        key: [m.details | ({"error": m.error} if m.error else {}) for m in runs.runs]
        for key, runs in cases.runs.items()
    }
    env["notes"] = NOTES
    env["seed"] = seed.details
    env["wall_s"] = round(time.perf_counter() - began, 1)
    report.environment.update(env)
    return report


# --- ours -------------------------------------------------------------------------------------


def bench_client_config(base_url: str) -> ClientConfig:
    """The `cars_api` resource's client as shipped (16 in flight, the PostgreSQL-shared limiter),
    pointed at the bench upstream with the rate limit lifted and a key of its own."""
    from sync_pipeline.defs.resources import shared_resources

    shipped = shared_resources()["cars_api"].model_copy(
        update={"base_url": base_url, "rps": BENCH_RPS}
    )
    config = shipped.client_config()
    return replace(
        config,
        token=None,
        shared_limiter_key=f"{shared_key_for('cars', None)}:bench-{uuid.uuid4().hex[:6]}",
    )


class OursSide:
    """Ours, in-process (`sync_cars`) and as the whole `sync` command, each into its own
    database."""

    def __init__(self, base_url: str, workdir: Path, dagster_database: str) -> None:
        self.base_url, self.workdir, self.dagster_database = base_url, workdir, dagster_database
        self.client_config = bench_client_config(base_url)
        self._round: ExitStack | None = None
        self.url = self.command_url = None
        self.observer: psycopg.Connection | None = None

    def fresh_targets(self, keep_in: ExitStack | None) -> None:
        """Drop the previous round's databases, create two fresh migrated ones. With `keep_in`,
        they live (and are dropped) with that stack instead of the next call."""
        if self._round is not None:
            self._round.close()
        stack = ExitStack()
        self.url = stack.enter_context(scratch_database("sync_bench_cars_ours"))
        self.command_url = stack.enter_context(scratch_database("sync_bench_cars_cmd"))
        self.observer = stack.enter_context(psycopg.connect(self.url.conninfo(), autocommit=True))
        if keep_in is not None:
            keep_in.push(stack.__exit__)
            self._round = None
        else:
            self._round = stack

    def in_process(self, run_id: str, scope: CarsScope | None = None) -> Measured:
        return measure_ours(self.url, self.observer, self.client_config, run_id, scope)

    def command_env(self) -> dict[str, str]:
        """The command's environment: this round's database, a Dagster storage and home of the
        benchmark's own (its runs stay out of the user's history), the shipped settings."""
        env = {
            **os.environ,
            "SYNC_DATABASE_URL": self.command_url.raw,
            "SYNC_DAGSTER_DATABASE": self.dagster_database,
            "SYNC_PIPELINE_HOME": str(self.workdir / "home"),
            source_env_names("cars")[0]: self.base_url,
            "RPS": f"{BENCH_RPS:g}",
        }
        for name in (
            "SYNC_CARS_API_TOKEN",
            "PAGE_SIZE",
            "BATCH_SIZE",
            "PARALLEL_BATCHES",
            "CONCURRENCY",
        ):
            env.pop(name, None)
        return env

    def prepare_command_storage(self) -> None:
        """Create the Dagster storage's tables (`sync-pipeline migrate`), untimed, so that the
        first timed command does not pay for them."""
        command = [sys.executable, "-m", "sync_pipeline.cli", "migrate"]
        subprocess.run(
            command, env=self.command_env(), capture_output=True, timeout=300, check=True
        )

    def whole_command(self) -> Measured:
        """`sync-pipeline sync cars --full-refresh` as a user runs it, from spawn to exit."""
        env = self.command_env()
        command = [sys.executable, "-m", "sync_pipeline.cli", "sync", "cars", "--full-refresh"]
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Measured.failed(f"timed out after {COMMAND_TIMEOUT_S} s", COMMAND_TIMEOUT_S)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
            print(
                f"  ours whole command: FAILED (exit {done.returncode}): {tail[0]}",
                file=sys.stderr,
                flush=True,
            )
            return Measured.failed(f"exit {done.returncode}: {tail[0]}", seconds)
        print(f"  ours whole command: {seconds:.2f} s", flush=True)
        return Measured(seconds, details={"seconds": round(seconds, 3)}, process_s=seconds)


def measure_ours(
    url: DatabaseUrl,
    observer: psycopg.Connection,
    config: ClientConfig,
    run_id: str,
    scope: CarsScope | None = None,
) -> Measured:
    """One `sync_cars` of `scope` (default: the full refresh) with the shipped settings. The pool
    is opened before the clock starts (an application keeps one) and closed before the figures
    are read, which ends its backends and so flushes their statistics."""
    scope = scope or CarsScope.full_refresh()
    before = table_writes(observer)
    maintenance_before = autovacuum_runs(observer, "public")
    wal_before = wal_lsn(observer)
    try:
        with open_pool(url, max_size=SHIPPED.parallel_batches + 1, name="bench_cars") as pool:
            busy, cpu = machine_busy_s(), time.process_time()
            started = time.perf_counter()
            outcome = asyncio.run(_sync(pool, config, scope, run_id, SHIPPED, url.conninfo()))
            seconds = time.perf_counter() - started
            busy, cpu = machine_busy_s() - busy, time.process_time() - cpu
    except Exception as exc:  # noqa: BLE001 - a failed run is a failed case, reported as such
        print(f"  ours {run_id}: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return Measured.failed(f"{type(exc).__name__}: {exc}")
    wal = wal_since(observer, wal_before)
    after = table_writes(observer)
    written = after.get("cars", 0) - before.get("cars", 0)
    bookkeeping = sum(after.values()) - sum(before.values()) - written
    r = outcome.result
    details = {
        "seconds": round(seconds, 3),
        "written": written,
        "wal_bytes": wal,
        "wal_from": wal_before,  # with wal_bytes, the range to read with pg_waldump
        "bookkeeping_written": bookkeeping,
        "inserted": r.inserted,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "delisted": r.soft_deleted,
        "quarantined": r.quarantined,
        "diffs_logged": r.diffs_logged,
        "live_rows": outcome.live_rows,
        "scope": scope.label,
        "pages": outcome.walk.pages,
        "requests": outcome.http.get("requests", 0),
        "autovacuum_or_analyze_meanwhile": autovacuum_runs(observer, "public") - maintenance_before,
        "own_cpu_s": round(cpu, 3),
        "machine_busy_share": round(busy / (seconds * (os.cpu_count() or 1)), 3),
    }
    print(
        f"  ours {run_id}: {seconds:.2f} s, {written:,} rows written, WAL {wal / MB:.2f} MB",
        flush=True,
    )
    return Measured(seconds, written, wal, bookkeeping, details)


async def _sync(
    pool,
    config: ClientConfig,
    scope: CarsScope,
    run_id: str,
    settings: CarsSyncSettings,
    limiter_conninfo: str | None = None,
) -> CarsSyncOutcome:
    async with ApiClient(config, limiter_conninfo=limiter_conninfo) as client:
        return await sync_cars(
            pool, client, scope, run_id, settings, progress_label=f"cars {run_id}"
        )


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
            "SELECT min(updated_at), "
            "(SELECT updated_at FROM cars ORDER BY updated_at OFFSET %s LIMIT 1) FROM cars",
            (records,),
        ).fetchone()
        if until is None:  # fewer cars than the window asks for: take them all
            until = conn.execute("SELECT max(updated_at) FROM cars").fetchone()[0] + timedelta(
                milliseconds=1
            )
    scope = CarsScope.for_window("bench-seed-window", since, until)
    expected = httpx.get(
        f"{upstream.url}/cars", params={**scope.query_params(), "page_size": 1}, timeout=30
    ).json()["total"]
    upstream.admin("faults", {"source": "cars", "profile": "seed"})
    upstream.admin("stats/reset", {})  # the figures below are the seed phase's alone
    token = None
    config = ClientConfig(
        upstream.url,
        name="cars",
        rps=SEED_RPS,
        concurrency=16,
        shared_limiter_key=f"{shared_key_for('cars', token)}:bench-{uuid.uuid4().hex[:6]}",
    )
    settings = replace(SHIPPED, page_size=SEED_PAGE_SIZE)
    print(
        f"  ours under the seed profile: window of {expected:,} cars "
        f"({expected / SEED_PAGE_SIZE:.0f} pages) at {SEED_RPS:g}/s ...",
        flush=True,
    )
    with open_pool(url, max_size=SHIPPED.parallel_batches + 1, name="bench_cars_seed") as pool:
        outcome = asyncio.run(
            _sync(pool, config, scope, "bench-seed", settings, limiter_conninfo=url.conninfo())
        )
    stats = upstream.admin("stats")["limit_groups"]["cars"]["tokens"][token_label(token)]
    pages_per_s, rows_per_s = outcome.warm_rates
    span = outcome.walk.elapsed_s - outcome.walk.first_page_s
    details = {
        "window_records": expected,
        "pages": outcome.walk.pages,
        "records": outcome.walk.records,
        "warm_span_s": round(span, 2),
        "pages_per_s": round(pages_per_s, 3),
        "rows_per_s": round(rows_per_s, 1),
        "upstream_429": stats["throttled"],
        "upstream_max_requests_in_1s": stats["max_requests_in_1s"],
        "client_429": outcome.http.get("http_429", 0),
        "latency_p50_ms": outcome.http.get("latency_p50_ms"),
        "latency_p95_ms": outcome.http.get("latency_p95_ms"),
        "limiter": "shared (PostgreSQL)",
        "client_rps": SEED_RPS,
        "client_paced_rps": config.paced_rps,
    }
    print(
        f"  ours seed: {pages_per_s:.2f} pages/s over {span:.1f} s, {stats['throttled']} 429s",
        flush=True,
    )
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
    print(
        f'creating the dlt virtualenv {venv} (python -m venv, pip install "{DLT_REQUIREMENT}"; '
        f"log: {log}) ...",
        flush=True,
    )
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", DLT_REQUIREMENT],
    ]
    with log.open("w") as out:
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            try:
                done = subprocess.run(
                    step, check=False, stdout=out, stderr=subprocess.STDOUT, timeout=900
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ConfigError(
                    f"could not create the dlt virtualenv for the benchmark: {exc}; see {log}"
                ) from None
            if done.returncode != 0:
                tail = " | ".join(line[:200] for line in log.read_text().strip().splitlines()[-2:])
                raise ConfigError(
                    "could not create the dlt virtualenv for the benchmark: "
                    f"`{' '.join(step[-3:])}` exited with {done.returncode} ({tail}); "
                    f"full log: {log}"
                )
    version = dlt_version(python)
    print(f"dlt {version} installed in {venv}", flush=True)
    return python


def dlt_version(python: Path, strict: bool = True) -> str | None:
    done = subprocess.run(
        [str(python), "-I", "-c", "import dlt; print(dlt.__version__)"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        if strict:
            raise ConfigError(
                f"dlt does not import in {python}: {done.stderr.strip().splitlines()[-1:]}"
            )
        return None
    return done.stdout.strip()


def runner_args(
    config: DltConfig, base_url: str, url: DatabaseUrl, pipelines_dir: Path
) -> dict[str, Any]:
    """The JSON arguments of `dlt_runner.py` for one configuration."""
    params = conninfo_to_dict(url.conninfo())
    credentials = {
        "host": params.get("host") or "localhost",
        "port": int(params.get("port") or 5432),
        "user": params.get("user") or "postgres",
        "password": params.get("password"),
        "database": params["dbname"],
    }
    return {
        "base_url": base_url,
        "page_size": PAGE_SIZE,
        "credentials": credentials,
        "dataset": config.dataset,
        "pipeline_name": f"bench_cars_{config.name}",
        "pipelines_dir": str(pipelines_dir),
        "mode": config.mode,
        "loader_file_format": config.loader_file_format,
        "work_mem": config.work_mem,
        "env": DLT_FAST_ENV,
    }


class DltSide:
    """Runs `dlt_runner.py` with the dlt virtualenv's python and measures each run."""

    def __init__(
        self,
        python: Path,
        base_url: str,
        url: DatabaseUrl,
        workdir: Path,
        observer: psycopg.Connection,
    ) -> None:
        self.python, self.base_url, self.url, self.workdir, self.observer = (
            python,
            base_url,
            url,
            workdir,
            observer,
        )

    def run(self, config: DltConfig, case: str) -> Measured:
        args = runner_args(config, self.base_url, self.url, self.workdir / "pipelines")
        before = dataset_writes(self.observer, config.dataset)
        maintenance_before = autovacuum_runs(self.observer, config.dataset)
        wal_before = wal_lsn(self.observer)
        busy = machine_busy_s()
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [str(self.python), "-I", str(Path(__file__).with_name("dlt_runner.py"))],
                env=runner_environment(args),
                check=False,
                capture_output=True,
                text=True,
                cwd=self.workdir,
                timeout=DLT_RUN_TIMEOUT_S,
            )
            stdout, stderr, code = done.stdout, done.stderr, done.returncode
        except subprocess.TimeoutExpired:
            stdout, stderr, code = "", f"timed out after {DLT_RUN_TIMEOUT_S} s", -1
        process_s = time.perf_counter() - started
        busy = machine_busy_s() - busy
        wal = wal_since(self.observer, wal_before)
        after = dataset_writes(self.observer, config.dataset)
        result = _last_json_line(stdout)
        error = run_error(code, result, stderr)
        if error:
            print(f"  {config.label}, {case}: FAILED: {error}", file=sys.stderr, flush=True)
            return Measured.failed(error, process_s)
        data = {
            t: after.get(t, 0) - before.get(t, 0) for t in after if not t.startswith(("_dlt", "!"))
        }
        written = sum(data.values())
        bookkeeping = sum(after.values()) - sum(before.values()) - written
        seconds = float(result["run_s"])
        details = {
            "seconds": round(seconds, 3),
            "process_s": round(process_s, 3),
            "written": written,
            "written_by_table": data,
            "wal_bytes": wal,
            "bookkeeping_and_staging_written": bookkeeping,
            "steps_s": result.get("steps_s", {}),
            "autovacuum_or_analyze_meanwhile": autovacuum_runs(self.observer, config.dataset)
            - maintenance_before,
            "rows": table_counts(self.observer, config.dataset),
            "machine_busy_share": round(busy / (process_s * (os.cpu_count() or 1)), 3),
        }
        print(
            f"  {config.label}, {case}: {seconds:.2f} s (process {process_s:.2f} s), "
            f"{written:,} rows written, WAL {wal / MB:.1f} MB",
            flush=True,
        )
        return Measured(seconds, written, wal, bookkeeping, details, process_s=process_s)

    def reset(self, config: DltConfig) -> None:
        """Forget a configuration's pipeline: its datasets and its local state go, so that its
        next run is a first load into a fresh target."""
        for schema in (config.dataset, f"{config.dataset}_staging"):
            self.observer.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
        shutil.rmtree(self.workdir / "pipelines" / f"bench_cars_{config.name}", ignore_errors=True)


def runner_environment(args: dict[str, Any]) -> dict[str, str]:
    """The runner's environment: ours plus its JSON arguments in `DLT_RUNNER_ARGS`. The arguments
    hold the database password, so they never go on the command line (visible in `ps`)."""
    return {**os.environ, dlt_runner.ARGS_ENV: json.dumps(args)}


def run_error(code: int, result: dict[str, Any], stderr: str) -> str | None:
    """Why a dlt run does not count (None when it does): a non-zero exit, no result, or a load
    with failed jobs (dlt then reports success with rows missing)."""
    if code != 0 or not result.get("ok"):
        return (
            result.get("error") or (stderr.strip().splitlines() or [f"exit {code}, no output"])[-1]
        )
    if result.get("has_failed_jobs"):
        return "the load has failed jobs"
    return None


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
    print(
        f"  (settling: VACUUM (ANALYZE) of both scratch databases, not measured: {seconds:.1f} s)",
        flush=True,
    )
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
    return conn.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint", (lsn,)
    ).fetchone()[0]


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
    return _settled(
        conn,
        sql.SQL(
            "SELECT relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::bigint "
            "FROM pg_stat_user_tables WHERE schemaname = 'public'"
        ),
        (),
    )


def dataset_writes(conn: psycopg.Connection, dataset: str) -> dict[str, int]:
    """Writes per table of one dlt dataset; its staging dataset's tables are prefixed with '!'."""
    return _settled(
        conn,
        sql.SQL(
            "SELECT CASE WHEN schemaname = %s THEN '' ELSE '!' END || relname, "
            "(n_tup_ins + n_tup_upd + n_tup_del)::bigint "
            "FROM pg_stat_user_tables WHERE schemaname IN (%s, %s)"
        ),
        (dataset, dataset, f"{dataset}_staging"),
    )


def autovacuum_runs(conn: psycopg.Connection, schema: str) -> int:
    """Autovacuum and autoanalyze runs so far on the tables of `schema` (they write WAL too)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute(
        "SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0)::bigint "
        "FROM pg_stat_user_tables WHERE schemaname = %s",
        (schema,),
    ).fetchone()[0]


def table_counts(conn: psycopg.Connection, dataset: str) -> dict[str, int]:
    counts = {}
    for table in DLT_DATA_TABLES:
        try:
            counts[table] = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(dataset, table))
            ).fetchone()[0]
        except psycopg.errors.UndefinedTable:
            counts[table] = 0
    return counts


# --- figures ----------------------------------------------------------------------------------


def _context(report: BenchReport, s: str, case: str, runs: Runs) -> None:
    """A dlt configuration's median time, rows written and WAL, for context (no target)."""
    report_median(report, f"{case}: {runs.label}, in-process wall{s}", runs)
    report_median(
        report,
        f"{case}: {runs.label}, rows written (cars + cars__features){s}",
        runs,
        "rows",
        "written",
    )
    report_median(report, f"{case}: {runs.label}, WAL (whole server){s}", runs, "MB", "wal_bytes")


def report_first_load(report: BenchReport, s: str, cases: Cases) -> None:
    case, plan = "first load", cases.plan
    ours, command, skip = cases["first_ours"], cases["first_command"], cases["first_skip"]
    report_same_count(
        report,
        f"{case}{s}",
        [ours, command] + [cases[f"first_{c.name}"] for c in plan.dlt_configs],
        ROUNDS,
    )
    report_median(report, f"{case}: ours, in-process wall{s}", ours, at_most=FIRST_LOAD_MAX_S)
    if ours.ok:
        wrong = sum(m.written != plan.cars for m in ours.runs)
        report.equal(
            f"{case}: ours, runs whose rows written (cars) != {plan.cars:,}{s}", wrong, "runs", 0
        )
    report_median(report, f"{case}: ours, WAL (whole server){s}", ours, "MB", "wal_bytes")
    report_median(report, f"{case}: ours, whole command wall{s}", command)
    _command_overhead(report, f"{case}: ours, whole command - in-process{s}", command, ours)
    for config in plan.dlt_configs:
        _context(report, s, case, cases[f"first_{config.name}"])
    report_median_ratio(
        report, f"{case}: {skip.label} / ours, in-process{s}", skip, ours, FIRST_LOAD_MIN_RATIO
    )
    report_median_ratio(
        report,
        f"{case}: {skip.label} / ours, whole command (both whole processes){s}",
        skip,
        command,
        COMMAND_FIRST_LOAD_MIN_RATIO,
        attribute="process_s",
        denominator_attribute="seconds",
    )
    if DLT_FAST in plan.dlt_configs:
        report_median_ratio(
            report,
            f"{case}: {DLT_FAST.label} / ours, in-process (context: no content comparison){s}",
            cases["first_fast"],
            ours,
        )


def _command_overhead(report: BenchReport, name: str, command: Runs, in_process: Runs) -> None:
    """The whole command's median wall time minus the in-process median (start-up, Dagster run)."""
    if command.ok and in_process.ok:
        report.at_most(
            f"{name} (medians)", command.median() - in_process.median(), "s", COMMAND_OVERHEAD_MAX_S
        )
    else:
        report.equal(f"{name} (medians): both ran without failure", 0, "ok", 1)


def report_unchanged(report: BenchReport, s: str, cases: Cases) -> None:
    case, plan = "unchanged re-sync", cases.plan
    ours, command, window = (
        cases["unchanged_ours"],
        cases["unchanged_command"],
        cases["unchanged_window"],
    )
    skip, incremental = cases["unchanged_skip"], cases["unchanged_incremental"]
    report_same_count(
        report,
        f"{case}{s}",
        [ours, command, window] + [cases[f"unchanged_{c.name}"] for c in plan.dlt_configs],
        ROUNDS,
    )
    report_median(
        report, f"{case}: ours full refresh, in-process wall{s}", ours, at_most=UNCHANGED_MAX_S
    )
    if ours.ok:
        report.equal(
            f"{case}: ours full refresh, rows written (cars, most of {len(ours.runs)}){s}",
            ours.most("written"),
            "rows",
            0,
        )
        report.at_most(
            f"{case}: ours full refresh, WAL (whole server, most of {len(ours.runs)}){s}",
            ours.most("wal_bytes") / MB,
            "MB",
            UNCHANGED_MAX_WAL_MB,
        )
        report.info(
            f"{case}: ours, bookkeeping rows written (checkpoint, most){s}",
            ours.most("bookkeeping_written"),
            "rows",
        )
    report_median(report, f"{case}: ours, whole command wall{s}", command)
    _command_overhead(report, f"{case}: ours, whole command - in-process{s}", command, ours)
    report_median(
        report, f"{case}: {window.label} (today's updated_at window), in-process wall{s}", window
    )
    report_median(report, f"{case}: {window.label}, rows written{s}", window, "rows", "written")
    for config in plan.dlt_configs:
        _context(report, s, case, cases[f"unchanged_{config.name}"])
    report_median_ratio(
        report,
        f"{case}: {skip.label} / ours full refresh, in-process{s}",
        skip,
        ours,
        UNCHANGED_MIN_RATIO,
    )
    report_median_ratio(
        report,
        f"{case}: {skip.label} / ours full refresh, whole command (both whole processes){s}",
        skip,
        command,
        COMMAND_UNCHANGED_MIN_RATIO,
        attribute="process_s",
        denominator_attribute="seconds",
    )
    report_median_ratio(
        report,
        f"{case}: {incremental.label} / {window.label}, in-process{s}",
        incremental,
        window,
        INCREMENTAL_MIN_RATIO,
    )
    if DLT_FAST in plan.dlt_configs:
        report_median_ratio(
            report,
            f"{case}: {DLT_FAST.label} / ours full refresh, in-process (context){s}",
            cases["unchanged_fast"],
            ours,
        )


def report_mutated(
    report: BenchReport, s: str, cases: Cases, mutations: list[dict[str, int]]
) -> None:
    case, plan = "1% updated + 5% touched", cases.plan
    ours, skip = cases["mutated_ours"], cases["mutated_skip"]
    report.info(
        f"{case}: cars updated upstream per round (business fields){s}",
        mutations[0]["updated"],
        "rows",
    )
    report.info(
        f"{case}: cars touched upstream per round (volatile fields only){s}",
        mutations[0]["touched"],
        "rows",
    )
    report_median(report, f"{case}: ours, in-process wall{s}", ours)
    if ours.ok:
        wrong = sum(m.written != m.details["expected_written"] for m in ours.runs)
        report.equal(f"{case}: ours, runs whose rows written != cars updated{s}", wrong, "runs", 0)
        mismatched = sum(not m.details["written_ids_match"] for m in ours.runs)
        report.equal(
            f"{case}: ours, runs whose rewritten ids != updated ids{s}", mismatched, "runs", 0
        )
    report_median(report, f"{case}: ours, WAL (whole server){s}", ours, "MB", "wal_bytes")
    for config in plan.dlt_configs:
        _context(report, s, case, cases[f"mutated_{config.name}"])
    report_median_ratio(report, f"{case}: {skip.label} / ours, in-process{s}", skip, ours)


def report_seed(report: BenchReport, s: str, seed: SeedRun, plan: Plan) -> None:
    d = seed.details
    window = f"{d['warm_span_s']:.0f} s of pages of {SEED_PAGE_SIZE}"
    report.at_least(
        f"seed profile ({SEED_RPS:g}/s): ours pages/s sustained ({window}){s}",
        seed.pages_per_s,
        "pages/s",
        SEED_TARGET_PAGES_PER_S,
    )
    report.at_least(
        f"seed profile: pages measured over{s}", d["warm_span_s"], "s", plan.seed_window_s * 30 / 32
    )
    report.equal(f"seed profile: 429s (upstream's count){s}", d["upstream_429"], "count", 0)
    report.info(
        f"seed profile: max requests in any 1 s (upstream's count){s}",
        d["upstream_max_requests_in_1s"],
        "requests",
    )
