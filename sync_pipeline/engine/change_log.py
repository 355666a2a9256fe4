"""Field-level diffs of updated rows, written to `sync_change_log` in the merge transaction.

Computed in SQL on the rows whose fingerprint changed, comparing the stored row with the staged
one column by column as jsonb, so old and new values are exactly what PostgreSQL holds. Volatile
columns are not logged (their changes are not changes); a revived row also logs `deleted_at`
going back to null.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.staging import StagingTable


def lock_and_log_field_diffs(
    conn: psycopg.Connection, spec: EntitySpec, staging: StagingTable, run_id: str
) -> int:
    """Lock the stored rows that the staged rows will change, in key order, and log their diffs.

    Runs inside the batch transaction, before the merge: the locks (taken only on stored rows
    of staged keys, which the classification found changed, so rows about to be rewritten) keep
    a concurrent writer from changing the old values between this diff and the merge; the key
    order makes deadlocks between two writers rare (`SyncRun` retries a batch that loses one).
    Returns the number of change-log rows written.
    """
    cur = conn.execute(
        _diff_statement(spec, staging.identifier), {"run_id": run_id, "entity": spec.table}
    )
    return cur.rowcount


def _diff_statement(spec: EntitySpec, staging: sql.Identifier) -> sql.Composed:
    pairs = [
        sql.SQL("({}, to_jsonb({}), to_jsonb({}))").format(
            sql.Literal(c), sql.Identifier("o", c), sql.Identifier("s", c)
        )
        for c in spec.diff_columns
    ]
    pairs.append(sql.SQL("('deleted_at', to_jsonb(o.deleted_at), NULL::jsonb)"))
    return sql.SQL(
        "INSERT INTO sync_change_log "
        "(run_id, entity, record_key, column_name, old_value, new_value) "
        "SELECT %(run_id)s, %(entity)s, {key_text}, d.column_name, d.old_value, d.new_value "
        "FROM (SELECT t.* FROM {target} AS t JOIN {staging} AS s USING ({key}) "
        "      ORDER BY {t_key} FOR UPDATE OF t) AS o "
        "JOIN {staging} AS s USING ({key}) "
        "CROSS JOIN LATERAL (VALUES {pairs}) AS d (column_name, old_value, new_value) "
        "WHERE (o.fingerprint IS DISTINCT FROM s.fingerprint OR o.deleted_at IS NOT NULL) "
        "AND d.old_value IS DISTINCT FROM d.new_value"
    ).format(
        key_text=spec.key_text_sql("o"),
        target=spec.table_sql,
        staging=staging,
        key=spec.key_sql(),
        t_key=spec.key_sql("t"),
        pairs=sql.SQL(", ").join(pairs),
    )
