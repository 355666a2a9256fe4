"""The worker's write path: one batch of fetched details in one transaction, no comparison query.

`write_batch` runs inside the caller's transaction (which also advances the checkpoint):

1. the engine keys, fingerprints and types the details in Python (`build_change_set` against an
   empty stored set, so no query, then `prepare_batch`); records it cannot store are rejections;
2. the rows, with their summary fingerprint, are COPYed into a session TEMP table (rows
   PostgreSQL refuses are split out for the quarantine, `engine.staging.copy_rows`);
3. the stored rows about to change are locked in id order and their field diffs logged in
   `sync_change_log` (volatile columns excluded; a row known from the list only logs its summary
   columns, since its detail columns are being filled, not changed);
4. one `INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE` stores them all, stamping
   `detail_synced_at`. Two guards stay in the statement because they are free: an identical
   detail is not rewritten (fingerprint), and an older version never replaces a newer one
   (`updated_at`), in whatever order concurrent runs commit;
5. pending rows of the versions just stored are deleted (that ends their lag), and so are the
   backfill items of users that now have a detail, whatever its version: a user who changed
   after the list was read and before the detector saw it has its new detail stored by the
   backfill, and the detector then finds nothing to ask for (its item would otherwise stay);
6. users whose detail answered 404 `user_not_found` are soft-deleted: `deleted_at` is set and
   `status` becomes 'deleted' (the contract's word for it), both logged in `sync_change_log`;
7. rejections go to `sync_quarantine`, and their pending rows are marked quarantined.

A batch is idempotent: written twice, it leaves the same rows. The engine's `SyncRun` is not
used: it reads the stored fingerprints to classify a batch, a comparison the detector has already
made; its typing, COPY and quarantine are reused.
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
from sync_pipeline.entities.users import SUMMARY_FIELDS, USERS, summary_fingerprint

STAGED_COLUMNS = USERS.copy_columns + ("summary_fingerprint",)
STAGE = sql.Identifier(
    f"users_stage_{xxhash.xxh3_64_hexdigest(','.join(STAGED_COLUMNS).encode())[:10]}"
)
STAGE_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, STAGED_COLUMNS))
_DIFFERS = sql.SQL(
    "t.fingerprint IS DISTINCT FROM excluded.fingerprint OR t.deleted_at IS NOT NULL "
    "OR t.summary_fingerprint IS DISTINCT FROM excluded.summary_fingerprint "
    "OR t.detail_synced_at IS NULL"
)
_NOT_OLDER = sql.SQL(
    "t.updated_at IS NULL OR excluded.updated_at IS NULL OR excluded.updated_at >= t.updated_at"
)
_CREATE_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS SELECT {} FROM users WITH NO DATA"
).format(STAGE, STAGE_COLUMNS)
_UPSERT = sql.SQL(
    "INSERT INTO users AS t ({columns}, last_run_id, detail_synced_at) "
    "SELECT {columns}, %(run_id)s, now() FROM pg_temp.{stage} ORDER BY id "
    "ON CONFLICT (id) DO UPDATE SET {updates}, deleted_at = NULL, synced_at = now(), "
    "last_run_id = EXCLUDED.last_run_id, detail_synced_at = now() "
    "WHERE ({differs}) AND ({not_older}) "
    "RETURNING t.id, t.xmax = 0"
).format(
    columns=STAGE_COLUMNS,
    stage=STAGE,
    differs=_DIFFERS,
    not_older=_NOT_OLDER,
    updates=sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in STAGED_COLUMNS if c != "id"
    ),
)
_LOG_DIFFS = sql.SQL(
    "INSERT INTO sync_change_log (run_id, entity, record_key, column_name, old_value, new_value) "
    "SELECT %(run_id)s, 'users', t.id::text, d.column_name, d.old_value, d.new_value "
    "FROM (SELECT u.* FROM users AS u JOIN pg_temp.{stage} AS s USING (id) "
    "ORDER BY u.id FOR UPDATE OF u) AS t "
    "JOIN pg_temp.{stage} AS excluded USING (id) "
    "CROSS JOIN LATERAL (VALUES {pairs}) AS d (column_name, old_value, new_value, from_detail) "
    "WHERE ({differs}) AND ({not_older}) AND d.old_value IS DISTINCT FROM d.new_value "
    "  AND (t.detail_synced_at IS NOT NULL OR NOT d.from_detail)"
).format(
    stage=STAGE,
    differs=_DIFFERS,
    not_older=_NOT_OLDER,
    pairs=sql.SQL(", ").join(
        [
            sql.SQL("({}, to_jsonb(t.{}), to_jsonb(excluded.{}), {})").format(
                sql.Literal(c),
                sql.Identifier(c),
                sql.Identifier(c),
                sql.Literal(c not in SUMMARY_FIELDS),
            )
            for c in USERS.diff_columns
        ]
        + [sql.SQL("('deleted_at', to_jsonb(t.deleted_at), NULL::jsonb, false)")]
    ),
)
_CLEAR_STORED = sql.SQL(
    "DELETE FROM users_pending_changes AS p USING pg_temp.{} AS s, users AS u "
    "WHERE p.id = s.id AND u.id = s.id AND (p.summary_fingerprint = s.summary_fingerprint "
    "OR (p.priority = 1 AND u.detail_synced_at IS NOT NULL))"
).format(STAGE)
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
"""  # noqa: E501
_MARK_QUARANTINED = (
    "UPDATE users_pending_changes SET quarantined_at = now() WHERE id = ANY(%s::bigint[])"
)
# Every writer of several pending rows at once takes their locks in id order first (this, and
# `slots._MARK_SENT`), so that a batch being stored and the backfill's sent-marks of the same
# ids wait for each other instead of deadlocking.
_LOCK_PENDING = (
    "SELECT id FROM users_pending_changes WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE"
)


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
    diffs_logged: int = 0
    sanitized_values: int = 0

    def add(self, other: BatchWrite) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def write_batch(
    conn: psycopg.Connection, details: list[dict], gone: list[int], run_id: str
) -> BatchWrite:
    """Store `details` and soft-delete the users of `gone`, in the caller's open transaction.

    Raises psycopg errors other than refused values (the caller's transaction then rolls back).
    """
    result = BatchWrite(not_found=len(gone))
    conn.execute(_LOCK_PENDING, (pending_ids(details, gone),))
    staged, rejected, result.sanitized_values = stage_records(conn, details)
    if staged:
        result.diffs_logged = conn.execute(_LOG_DIFFS, {"run_id": run_id}).rowcount
        written = conn.execute(_UPSERT, {"run_id": run_id}).fetchall()
        result.inserted = sum(1 for _, inserted in written if inserted)
        result.updated = len(written) - result.inserted
        result.unchanged = staged - len(written)
        result.pending_cleared = conn.execute(_CLEAR_STORED).rowcount
    if gone:
        result.soft_deleted = conn.execute(
            _SOFT_DELETE, {"ids": gone, "run_id": run_id}
        ).fetchone()[0]
    if rejected:
        result.quarantined = quarantine_records(conn, USERS, run_id, rejected)
        conn.execute(
            _MARK_QUARANTINED, ([int(r.key_text) for r in rejected if _is_int(r.key_text)],)
        )
    return result


def stage_records(
    conn: psycopg.Connection, records: list[dict]
) -> tuple[int, list[Rejection], int]:
    """Type `records` (details or summaries) and COPY them into the session's stage `STAGE`, in
    the caller's transaction; returns the rows staged, the records that cannot be stored and
    how many string values had NUL characters stripped."""
    changes = build_change_set(USERS, records, StoredFingerprints(USERS))
    batch = prepare_batch(USERS, changes)
    rejected = list(batch.rejected)
    if not batch.rows:
        return 0, rejected, changes.sanitized
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    conn.execute(_CREATE_STAGE)
    rows = [row + [summary_fingerprint(c.record)] for row, c in zip(batch.rows, batch.staged)]
    refused = copy_rows(conn, sql.SQL("pg_temp.{}").format(STAGE), STAGE_COLUMNS, rows)
    rejected += [
        Rejection(key_text(batch.staged[i].key), reason, raw_json(batch.staged[i].record))
        for i, reason in refused
    ]
    return len(rows) - len(refused), rejected, changes.sanitized


def pending_ids(details: list[dict], gone: list[int]) -> list[int]:
    """The ids of a batch that can have pending rows, in order (a malformed id has none)."""
    ids = {int(d["id"]) for d in details if _is_int(str(d.get("id")))}
    return sorted(ids | set(gone))


def _is_int(text: str | None) -> bool:
    return text is not None and text.lstrip("-").isdigit()
