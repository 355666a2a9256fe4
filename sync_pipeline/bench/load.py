"""`sync-pipeline bench load`: the database side of the engine against the usual alternatives.

200k contract cars (`--quick`: 20k) in memory, written into a scratch database created on the
application's server and dropped afterwards. Our paths (first load, unchanged re-sync, 1%
changed + 5% touched) and, on tables of their own, the plain `INSERT ... ON CONFLICT DO UPDATE
... WHERE fingerprint <> EXCLUDED.fingerprint` over every row, SQLAlchemy Core `executemany` of one
compiled upsert and
pandas `to_sql(method='multi')` (those two on a sample). Each phase runs REPEATS times for ours
and for the plain upsert (same batches, same transactions in flight): speeds are the median run
on both sides, and every ratio is of medians; rows written (from pg_stat_user_tables) and rows
locked without a change (rows whose xmax the phase set) are the worst run; WAL is the whole
server's `pg_current_wal_lsn()` delta, so other sessions' writes count against us, and the least
of the runs is the tightest upper bound of our own.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from sync_pipeline.bench.load_baselines import (
    compare_lookups_and_staging,
    pandas_to_sql_rate,
    plain_upsert,
    sqlalchemy_executemany_rate,
)
from sync_pipeline.bench.report import BenchOptions, BenchReport
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.scratch import scratch_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.engine.checkpoints import Position, listing_layout
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline.entities.cars import CARS
from sync_pipeline.upstream.data.cars import generate_cars, touch_car, update_car
from sync_pipeline.upstream.data.rng import stream

PAGE_SIZE = 1000
SAMPLE = 5000
REPEATS = 5
MB = 1_000_000
RESET = "TRUNCATE {}, sync_checkpoints, sync_change_log, sync_quarantine"


@dataclass
class Phase:
    """One phase over its repetitions: every run's time (figures take the median), the least
    server WAL (other sessions' writes only ever add to it), and the most rows it ever wrote or
    locked in its own table."""

    rows: int
    runs_s: list[float]
    written: int
    locked: int
    wal_bytes: int

    @property
    def seconds(self) -> float:
        return statistics.median(self.runs_s)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    def combined_with(self, other: Phase) -> Phase:
        return Phase(
            self.rows,
            self.runs_s + other.runs_s,
            max(self.written, other.written),
            max(self.locked, other.locked),
            min(self.wal_bytes, other.wal_bytes),
        )


def run(options: BenchOptions) -> BenchReport:
    count = 20_000 if options.quick else 200_000
    report = BenchReport("load")
    write_options = WriteOptions.from_env()
    started = time.perf_counter()
    cars = generate_cars(seed=1, count=count)
    changed, mutated = mutate(cars)
    gc.collect()
    gc.freeze()  # the inputs held here are not garbage; keep the collector from rescanning them
    report.info("cars generated", count, "rows")
    with (
        scratch_database("sync_bench_load") as url,
        psycopg.connect(url.conninfo(), autocommit=True) as observer,
    ):
        ours = measure_ours(url, observer, cars, mutated, write_options)
        plain = measure_plain_upsert(url, observer, cars, mutated, write_options)
        orm_rate = sqlalchemy_executemany_rate(url, cars[:SAMPLE])
        pandas_rate = pandas_to_sql_rate(url, cars[:SAMPLE])
        compare_lookups_and_staging(url, cars, report)
    report_ours(report, ours, changed)
    report_baselines(report, ours, plain, orm_rate, pandas_rate)
    report.environment.update(
        {
            "rows": count,
            "batch_size": write_options.batch_size,
            "gc_frozen_inputs": True,
            "parallel_batches": write_options.parallel_batches,
            "wall_s": round(time.perf_counter() - started, 1),
        }
    )
    return report


def mutate(cars: list[dict]) -> tuple[set[int], list[dict]]:
    """A copy of `cars` with 1% updated (business change) and another 5% touched (volatile only)."""
    rng = stream(1, "bench-load-mutations")
    picked = rng.choice(len(cars), size=len(cars) * 6 // 100, replace=False).tolist()
    updated, touched = picked[: len(cars) // 100], picked[len(cars) // 100 :]
    mutated = [dict(car) for car in cars]
    for index in updated:
        update_car(mutated[index], rng, stamp_ms=1_800_000_000_000)
    for index in touched:
        touch_car(mutated[index], rng, stamp_ms=1_800_000_000_000)
    return {mutated[i]["id"] for i in updated}, mutated


def measure_ours(
    url: DatabaseUrl,
    observer: psycopg.Connection,
    cars: list[dict],
    mutated: list[dict],
    options: WriteOptions,
) -> dict:
    phases = {
        "first": repeat(
            observer,
            "cars",
            len(cars),
            lambda: sync_pages(url, cars, options, "bench-first"),
            reset=True,
        )
    }
    phases["unchanged"] = repeat(
        observer, "cars", len(cars), lambda: sync_pages(url, cars, options, "bench-same")
    )
    runs = iter(range(2 * REPEATS))

    def flip() -> float:  # original -> mutated -> original ...: each run is a 1% change, 5% touch
        number = next(runs)
        return sync_pages(
            url, mutated if number % 2 == 0 else cars, options, f"bench-changed-{number}"
        )

    phases["mutated"] = repeat(observer, "cars", len(cars), flip)
    phases["diff_keys"] = max(
        row[0]
        for row in observer.execute(
            "SELECT count(DISTINCT record_key) FROM sync_change_log "
            "WHERE run_id LIKE 'bench-changed-%' GROUP BY run_id"
        ).fetchall()
    )
    return phases


def repeat(observer: psycopg.Connection, table: str, rows: int, work, reset: bool = False) -> Phase:
    """`measure` REPEATS times (each after emptying the tables, with `reset`), combined."""
    result = None
    for _ in range(REPEATS):
        if reset:
            observer.execute(sql.SQL(RESET).format(sql.Identifier(table)))
        phase = measure(observer, table, rows, work)
        result = phase if result is None else result.combined_with(phase)
    return result


def sync_pages(url: DatabaseUrl, records: list[dict], options: WriteOptions, run_id: str) -> float:
    """One full-snapshot run over `records` in pages; returns the run's seconds.

    The pool is opened before the clock starts (an application keeps one open) and closed after
    it stops, which ends its backends and so flushes their statistics for `settled_writes`.
    """
    with open_pool(url, max_size=options.parallel_batches + 1, name="bench_load") as pool:
        began = time.perf_counter()
        with SyncRun(
            pool,
            CARS,
            pipeline="cars",
            partition="bench",
            run_id=run_id,
            options=options,
            layout=listing_layout(PAGE_SIZE),
        ) as run:
            for number, start in enumerate(range(0, len(records), PAGE_SIZE), start=1):
                run.add_page(records[start : start + PAGE_SIZE], Position(page=number))
            run.finish(full_snapshot=True)
        return time.perf_counter() - began


def measure(observer: psycopg.Connection, table: str, rows: int, work) -> Phase:
    """Run `work`, which returns its own seconds and must close its connections (so that their
    statistics are flushed) before it returns.

    Rows locked without a change: row versions older than the phase whose xmax the phase set
    (rows it rewrote are new versions and count as written instead).
    """
    written_before = settled_writes(observer, table)
    wal_before = observer.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    xid_before = observer.execute(
        "SELECT pg_current_xact_id()::text::bigint % 4294967296"
    ).fetchone()[0]
    seconds = work()
    wal = observer.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)::bigint", (wal_before,)
    ).fetchone()[0]
    locked = observer.execute(
        sql.SQL(
            "SELECT count(*) FROM {} "
            "WHERE xmax::text::bigint >= %(xid)s AND xmin::text::bigint < %(xid)s"
        ).format(sql.Identifier(table)),
        {"xid": xid_before},
    ).fetchone()[0]
    return Phase(rows, [seconds], settled_writes(observer, table) - written_before, locked, wal)


def settled_writes(observer: psycopg.Connection, table: str) -> int:
    """n_tup_ins + n_tup_upd + n_tup_del of `table`, read until closed backends have flushed."""
    readings: list[int] = []
    for _ in range(40):
        observer.execute("SELECT pg_stat_clear_snapshot()")
        readings.append(
            observer.execute(
                "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint "
                "FROM pg_stat_user_tables WHERE relname = %s",
                (table,),
            ).fetchone()[0]
        )
        if len(readings) >= 3 and readings[-1] == readings[-2] == readings[-3]:
            break
        time.sleep(0.05)
    return readings[-1]


def measure_plain_upsert(
    url: DatabaseUrl,
    observer: psycopg.Connection,
    cars: list[dict],
    mutated: list[dict],
    options: WriteOptions,
) -> dict[str, Phase]:
    """The textbook upsert on its own table: every row COPYed and offered to ON CONFLICT."""
    observer.execute("CREATE TABLE cars_plain (LIKE cars INCLUDING ALL)")
    runs = iter(range(2 * REPEATS))
    return {
        "first": repeat(
            observer, "cars_plain", len(cars), lambda: plain_upsert(url, cars, options), reset=True
        ),
        "unchanged": repeat(
            observer, "cars_plain", len(cars), lambda: plain_upsert(url, cars, options)
        ),
        "mutated": repeat(
            observer,
            "cars_plain",
            len(cars),
            lambda: plain_upsert(url, mutated if next(runs) % 2 == 0 else cars, options),
        ),
    }


def report_ours(report: BenchReport, ours: dict, changed: set[int]) -> None:
    first, unchanged, mutated = ours["first"], ours["unchanged"], ours["mutated"]
    best = f"median of {REPEATS}"
    report.at_least(
        f"first load into an empty table, incl. fingerprinting ({best})",
        first.rows_per_s,
        "rows/s",
        80_000,
    )
    report.info("first load WAL (whole server, least run)", first.wal_bytes / MB, "MB")
    report.at_least(f"unchanged re-sync ({best})", unchanged.rows_per_s, "rows/s", 300_000)
    report.equal("unchanged re-sync: rows written", unchanged.written, "rows", 0)
    report.equal("unchanged re-sync: rows locked", unchanged.locked, "rows", 0)
    report.at_most(
        "unchanged re-sync: WAL (whole server, least run)", unchanged.wal_bytes / MB, "MB", 1
    )
    report.info(f"1% changed + 5% touched re-sync ({best})", mutated.rows_per_s, "rows/s")
    report.equal("1%/5%: rows written (worst run)", mutated.written, "rows", len(changed))
    report.equal(
        "1%/5%: rows with field diffs logged (worst run)", ours["diff_keys"], "rows", len(changed)
    )
    report.equal("1%/5%: rows locked without a change", mutated.locked, "rows", 0)
    report.info("1%/5% WAL (whole server, least run)", mutated.wal_bytes / MB, "MB")


def report_baselines(
    report: BenchReport, ours: dict, plain: dict, orm_rate: float, pandas_rate: float
) -> None:
    for phase, label in (
        ("first", "first load"),
        ("unchanged", "unchanged re-sync"),
        ("mutated", "1%/5% re-sync"),
    ):
        report.info(
            f"plain ON CONFLICT WHERE hash<>, same batches in flight: {label} "
            f"(median of {REPEATS})",
            plain[phase].rows_per_s,
            "rows/s",
        )
    report.info(
        "plain ON CONFLICT: unchanged re-sync rows written", plain["unchanged"].written, "rows"
    )
    report.info(
        "plain ON CONFLICT: unchanged re-sync rows locked", plain["unchanged"].locked, "rows"
    )
    report.info(
        "plain ON CONFLICT: unchanged re-sync WAL (whole server, least run)",
        plain["unchanged"].wal_bytes / MB,
        "MB",
    )
    report.info(
        f"SQLAlchemy executemany of one upsert, first load of a {SAMPLE}-row sample (one run)",
        orm_rate,
        "rows/s",
    )
    report.info(
        f"pandas to_sql(method='multi'), first load of a {SAMPLE}-row sample (one run)",
        pandas_rate,
        "rows/s",
    )
    first = ours["first"].rows_per_s
    report.info(
        "median ratio first load: ours / plain ON CONFLICT (rows/s)",
        first / plain["first"].rows_per_s,
        "x",
    )
    for phase, label in (("unchanged", "unchanged re-sync"), ("mutated", "1%/5% re-sync")):
        report.info(
            f"median ratio {label}: ours / plain ON CONFLICT (rows/s)",
            ours[phase].rows_per_s / plain[phase].rows_per_s,
            "x",
        )
