"""`sync_logs`: a row per store and job as each one ends, and the run's own row at the end."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from sync_pipeline.pipelines.stores.members import StoreOutcome

RUN_JOB_NAME = "stores_sync"
_INSERT = (
    "INSERT INTO sync_logs (job_name, store_code, status, message, rows, duration_s, run_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


def log_store(pool: ConnectionPool, outcome: StoreOutcome, run_id: str) -> None:
    """One store's row: `success` with its change counts, or `failed` with the reason."""
    if outcome.ok:
        r = outcome.result
        message = (
            f"{outcome.records} records in {outcome.pages} pages: {r.inserted} inserted, "
            f"{r.updated} updated, {r.unchanged} unchanged, {r.soft_deleted} soft-deleted, "
            f"{r.quarantined} quarantined"
        )
    else:
        message = outcome.reason
    with pool.connection() as conn:
        conn.execute(
            _INSERT,
            (
                outcome.job_name,
                outcome.code,
                "success" if outcome.ok else "failed",
                message,
                outcome.records,
                round(outcome.duration_s, 3),
                run_id,
            ),
        )


def log_run(
    pool: ConnectionPool,
    run_id: str,
    stores_ok: int,
    stores_total: int,
    message: str,
    rows: int,
    duration_s: float,
) -> None:
    """The run's row (store_code NULL): `success`, `partial` (some stores failed) or `failed`."""
    status = "success" if stores_ok == stores_total else "partial" if stores_ok else "failed"
    with pool.connection() as conn:
        conn.execute(
            _INSERT,
            (RUN_JOB_NAME, None, status, message, rows, round(duration_s, 3), run_id),
        )
