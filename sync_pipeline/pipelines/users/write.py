"""The worker's write path: one batch of fetched details in one transaction, no comparison query.

`write_batch` runs inside the caller's transaction (which also advances the checkpoint):

1. the engine keys, fingerprints and types the details in Python (`build_change_set` against an
   empty stored set, so no query, then `prepare_batch`); records it cannot store are rejections;
2. the rows, with their summary fingerprint, are COPYed into a session TEMP table (rows
   PostgreSQL refuses are split out for the quarantine, `engine.staging.copy_rows`);
3. one `INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE` stores them all. The detector already
   decided these users changed, so nothing is read first; two guards stay in the statement
   because they are free: an identical detail is not rewritten (fingerprint), and an older
   version never replaces a newer one (`updated_at`), in whatever order concurrent runs commit;
4. pending rows of the versions just stored are deleted (that ends their lag);
5. users whose detail answered 404 `user_not_found` are soft-deleted: `deleted_at` is set and
   `status` becomes 'deleted' (the contract's word for it), both logged in `sync_change_log`;
6. rejections go to `sync_quarantine`, and their pending rows are marked quarantined.

A batch is idempotent: written twice, it leaves the same rows. The engine's `SyncRun` is not
used: it reads the stored fingerprints to classify a batch and diffs stored rows for the change
log, comparisons the detector has already made; its typing, COPY and quarantine are reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import xxhash
from psycopg import sql

from sync_pipeline.engine.batch import prepare_batch
from sync_pipeline.engine.changeset import StoredFingerprints, build_change_set
from sync_pipeline.engine.quarantine import quarantine_records
from sync_pipeline.engine.records import Rejection, key_text, raw_json
from sync_pipeline.engine.staging import copy_rows
from sync_pipeline.entities.users import USERS, summary_fingerprint

STAGED_COLUMNS = USERS.copy_columns + ("summary_fingerprint",)
_STAGE = sql.Identifier(f"users_stage_{xxhash.xxh3_64_hexdigest(','.join(STAGED_COLUMNS).encode())[:10]}")
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, STAGED_COLUMNS))
_CREATE_STAGE = sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS "
                        "SELECT {} FROM users WITH NO DATA").format(_STAGE, _COLUMNS)
_UPSERT = sql.SQL(
    "INSERT INTO users AS t ({columns}, last_run_id) "
    "SELECT {columns}, %(run_id)s FROM pg_temp.{stage} ORDER BY id "
    "ON CONFLICT (id) DO UPDATE SET {updates}, deleted_at = NULL, synced_at = now(), "
    "last_run_id = EXCLUDED.last_run_id "
    "WHERE (t.fingerprint IS DISTINCT FROM EXCLUDED.fingerprint "
    "       OR t.summary_fingerprint IS DISTINCT FROM EXCLUDED.summary_fingerprint OR t.deleted_at IS NOT NULL) "
    "  AND (t.updated_at IS NULL OR EXCLUDED.updated_at IS NULL OR EXCLUDED.updated_at >= t.updated_at) "
    "RETURNING t.id, t.xmax = 0"
).format(columns=_COLUMNS, stage=_STAGE, updates=sql.SQL(", ").join(
    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in STAGED_COLUMNS if c != "id"))
_CLEAR_STORED = sql.SQL(
    "DELETE FROM users_pending_changes AS p USING pg_temp.{} AS s "
    "WHERE p.id = s.id AND p.summary_fingerprint = s.summary_fingerprint").format(_STAGE)
_SOFT_DELETE = """
WITH live AS (
    SELECT id, status FROM users WHERE id = ANY(%(ids)s::bigint[]) AND deleted_at IS NULL ORDER BY id FOR UPDATE
), gone AS (
    UPDATE users AS t SET deleted_at = now(), status = 'deleted', synced_at = now(), last_run_id = %(run_id)s
    FROM live WHERE t.id = live.id
    RETURNING t.id, live.status AS old_status, t.deleted_at
), logged AS (
    INSERT INTO sync_change_log (run_id, entity, record_key, column_name, old_value, new_value)
    SELECT %(run_id)s, 'users', gone.id::text, c.column_name, c.old_value, c.new_value
    FROM gone CROSS JOIN LATERAL (VALUES ('deleted_at', NULL::jsonb, to_jsonb(gone.deleted_at)),
                                         ('status', to_jsonb(gone.old_status), to_jsonb('deleted'::text)))
         AS c (column_name, old_value, new_value)
    WHERE c.old_value IS DISTINCT FROM c.new_value
), cleared AS (
    DELETE FROM users_pending_changes WHERE id = ANY(%(ids)s::bigint[])
)
SELECT count(*) FROM gone
"""
_MARK_QUARANTINED = "UPDATE users_pending_changes SET quarantined_at = now() WHERE id = ANY(%s::bigint[])"


@dataclass
class BatchWrite:
    """What one batch did. `unchanged`: details equal to the stored row, or older than it."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    soft_deleted: int = 0
    not_found: int = 0
    quarantined: int = 0
    pending_cleared: int = 0

    def add(self, other: "BatchWrite") -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def write_batch(conn: psycopg.Connection, details: list[dict], gone: list[int], run_id: str) -> BatchWrite:
    """Store `details` and soft-delete the users of `gone`, in the caller's open transaction.

    Raises psycopg errors other than refused values (the caller's transaction then rolls back).
    """
    result = BatchWrite(not_found=len(gone))
    batch = prepare_batch(USERS, build_change_set(USERS, details, StoredFingerprints(USERS)))
    rejected = list(batch.rejected)
    if batch.rows:
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        conn.execute(_CREATE_STAGE)
        rows = [row + [summary_fingerprint(c.record)] for row, c in zip(batch.rows, batch.staged)]
        refused = copy_rows(conn, sql.SQL("pg_temp.{}").format(_STAGE), _COLUMNS, rows)
        rejected += [Rejection(key_text(batch.staged[i].key), reason, raw_json(batch.staged[i].record))
                     for i, reason in refused]
        written = conn.execute(_UPSERT, {"run_id": run_id}).fetchall()
        result.inserted = sum(1 for _, inserted in written if inserted)
        result.updated = len(written) - result.inserted
        result.unchanged = len(rows) - len(refused) - len(written)
        result.pending_cleared = conn.execute(_CLEAR_STORED).rowcount
    if gone:
        result.soft_deleted = conn.execute(_SOFT_DELETE, {"ids": gone, "run_id": run_id}).fetchone()[0]
    if rejected:
        result.quarantined = quarantine_records(conn, USERS, run_id, rejected)
        conn.execute(_MARK_QUARANTINED, ([int(r.key_text) for r in rejected if _is_int(r.key_text)],))
    return result


def _is_int(text: str | None) -> bool:
    return text is not None and text.lstrip("-").isdigit()
