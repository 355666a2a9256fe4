"""The baselines of `sync-pipeline bench load`: the usual ways of writing the same cars.

- `plain_upsert`: every row fingerprinted, typed and COPYed into a TEMP table, then one
  `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE fingerprint <> EXCLUDED.fingerprint` per
  batch into `cars_plain`, with as many batches in flight as ours (`parallel_batches`
  connections): correct, but it locks (and WAL-logs the lock of) every matched row;
- `sqlalchemy_executemany_rate`: one SQLAlchemy Core upsert statement, compiled once and
  executed for every row (`executemany`, as a competent SQLAlchemy user writes it), one
  transaction;
- `pandas_to_sql_rate`: `DataFrame.to_sql(method="multi")`, append only;

and `compare_lookups_and_staging`, the figures behind two of the engine's choices.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg import sql

from sync_pipeline.bench.report import BenchReport
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.engine.changeset import StoredFingerprints
from sync_pipeline.engine.fingerprint import fingerprint
from sync_pipeline.engine.records import record_row
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline.entities.cars import CARS


def plain_upsert(url: DatabaseUrl, records: list[dict], options: WriteOptions) -> float:
    """Upsert `records` into `cars_plain` (which must exist) with `options.parallel_batches`
    connections, each taking the next batch in turn; returns the seconds it took."""
    batches = [
        records[start : start + options.batch_size]
        for start in range(0, len(records), options.batch_size)
    ]
    workers = max(1, min(options.parallel_batches, len(batches)))
    connections = [psycopg.connect(url.conninfo()) for _ in range(workers)]
    try:
        began = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            shares = [batches[n::workers] for n in range(workers)]
            list(pool.map(_plain_upsert_batches, connections, shares))
        return time.perf_counter() - began
    finally:
        for conn in connections:
            conn.close()


def _plain_upsert_batches(conn: psycopg.Connection, batches: list[list[dict]]) -> None:
    columns = sql.SQL(", ").join(map(sql.Identifier, CARS.copy_columns))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in CARS.copy_columns[1:]
    )
    upsert = sql.SQL(
        "INSERT INTO cars_plain ({c}, last_run_id) SELECT {c}, 'plain' FROM plain_stage "
        "ON CONFLICT (id) DO UPDATE SET {u} WHERE cars_plain.fingerprint <> EXCLUDED.fingerprint"
    ).format(c=columns, u=updates)
    excluded = CARS.fingerprint_excluded
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE plain_stage ON COMMIT DELETE ROWS AS "
            "SELECT {} FROM cars WITH NO DATA"
        ).format(columns)
    )
    conn.commit()
    for batch in batches:
        with conn.transaction():
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            with conn.cursor().copy(
                sql.SQL("COPY plain_stage ({}) FROM STDIN").format(columns)
            ) as copy:
                for car in batch:
                    copy.write_row(record_row(CARS, car, fingerprint(car, excluded)))
            conn.execute(upsert)


def sqlalchemy_executemany_rate(url: DatabaseUrl, cars: list[dict]) -> float:
    """Upsert `cars` into a new table `cars_orm` with one SQLAlchemy Core statement executed for
    every row (`executemany`), in one transaction; returns rows/s, row building included."""
    from sqlalchemy import MetaData, Table, create_engine
    from sqlalchemy.dialects.postgresql import insert

    engine = create_engine(url.raw.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE cars_orm (LIKE cars INCLUDING ALL)")
        table = Table("cars_orm", MetaData(), autoload_with=engine)
        began = time.perf_counter()
        rows = [orm_row(car) for car in cars]
        statement = insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={k: statement.excluded[k] for k in rows[0] if k != "id"},
            where=table.c.fingerprint != statement.excluded.fingerprint,
        )
        with engine.begin() as conn:
            conn.execute(statement, rows)
        return len(cars) / (time.perf_counter() - began)
    finally:
        engine.dispose()


def pandas_to_sql_rate(url: DatabaseUrl, cars: list[dict]) -> float:
    """Append `cars` to a new table `cars_pandas`; returns rows/s, DataFrame building included."""
    import pandas as pd
    from sqlalchemy import LargeBinary, Numeric, create_engine
    from sqlalchemy.dialects.postgresql import JSONB

    engine = create_engine(url.raw.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE cars_pandas (LIKE cars INCLUDING ALL)")
        began = time.perf_counter()
        frame = pd.DataFrame([orm_row(car) for car in cars])
        frame.to_sql(
            "cars_pandas",
            engine,
            if_exists="append",
            index=False,
            method="multi",
            chunksize=1000,
            dtype={
                "dealer": JSONB(),
                "features": JSONB(),
                "extra": JSONB(),
                "price": Numeric(12, 2),
                "fingerprint": LargeBinary(),
            },
        )
        return len(cars) / (time.perf_counter() - began)
    finally:
        engine.dispose()


def orm_row(car: dict) -> dict:
    """A car as ORM-style code would hand it over: typed values, fingerprint included."""
    row = dict(
        car,
        price=Decimal(car["price"]),
        extra=None,
        last_run_id="baseline",
        fingerprint=fingerprint(car, CARS.fingerprint_excluded),
    )
    for name in ("listed_at", "updated_at", "scraped_at"):
        row[name] = datetime.fromisoformat(car[name])
    return row


def compare_lookups_and_staging(url: DatabaseUrl, cars: list[dict], report: BenchReport) -> None:
    """The figures behind two choices: preloading a scope's fingerprints, and TEMP staging."""
    keys = [car["id"] for car in cars]
    with psycopg.connect(url.conninfo()) as conn:
        began = time.perf_counter()
        StoredFingerprints.load(conn, CARS)
        report.info(
            "fingerprint lookup: whole scope in one query", time.perf_counter() - began, "s"
        )
        began = time.perf_counter()
        for start in range(0, len(keys), 5000):
            StoredFingerprints(CARS).load_keys(conn, keys[start : start + 5000])
        report.info(
            "fingerprint lookup: per 5000-key batch, summed", time.perf_counter() - began, "s"
        )
        rows = [record_row(CARS, car, bytes(16)) for car in cars[:50_000]]
        columns = sql.SQL(", ").join(map(sql.Identifier, CARS.copy_columns))
        for kind, clear in (("UNLOGGED", "TRUNCATE stage_unlogged"), ("TEMP", None)):
            table = sql.Identifier(f"stage_{kind.lower()}")
            ending = sql.SQL("ON COMMIT DELETE ROWS" if kind == "TEMP" else "")
            conn.execute(
                sql.SQL(
                    f"CREATE {kind} TABLE {{}} {{}} AS SELECT {{}} FROM cars WITH NO DATA"
                ).format(table, ending, columns)
            )
            began = time.perf_counter()
            with conn.cursor().copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns)
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            report.info(
                f"staging: COPY into a {kind} table",
                len(rows) / (time.perf_counter() - began),
                "rows/s",
            )
            began = time.perf_counter()
            for _ in range(20):
                conn.execute(sql.SQL("INSERT INTO {} (id) VALUES (1)").format(table))
                if clear:
                    conn.execute(clear)
                conn.commit()
            report.info(
                f"staging: emptying a {kind} table per batch",
                (time.perf_counter() - began) / 20 * 1000,
                "ms",
            )
