"""The set-based merge of a batch's staged rows into the target table.

One `INSERT ... SELECT ... ON CONFLICT DO UPDATE` per batch: new keys are inserted, stored ones
are rewritten only when the fingerprint guard in `ON CONFLICT` says they differ (or the row is
soft-deleted, which revives it). The guard stays in SQL, not just in the Python classification,
so a concurrent writer that stored the same version first turns our update into a no-op.
Rows are merged in key order, the same order every writer locks in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.records import Key
from sync_pipeline.engine.staging import StagingTable


@dataclass
class MergeOutcome:
    """Keys the merge inserted and keys it rewrote (revived soft-deleted rows count as updated)."""

    inserted: list[Key] = field(default_factory=list)
    updated: list[Key] = field(default_factory=list)


def merge_staged_rows(
    conn: psycopg.Connection, spec: EntitySpec, staging: StagingTable, run_id: str
) -> MergeOutcome:
    """Insert the staged rows that are new, rewrite the ones whose fingerprint differs.

    Runs inside the batch transaction, after `lock_and_log_field_diffs`. Staged rows whose
    stored version already has the same fingerprint are not written. A key that another writer
    inserted after the diff statement is updated without a change-log entry (its old values
    were never visible to this transaction). Raises psycopg errors (constraint violations and
    the like) unchanged.
    """
    outcome = MergeOutcome()
    single = len(spec.key) == 1
    cur = conn.execute(_merge_statement(spec, staging.identifier), {"run_id": run_id})
    for row in cur.fetchall():
        key = row[0] if single else tuple(row[:-1])
        (outcome.inserted if row[-1] else outcome.updated).append(key)
    return outcome


def _merge_statement(spec: EntitySpec, staging: sql.Identifier) -> sql.Composed:
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.copy_columns))
    updates = [
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
        for c in spec.copy_columns
        if c not in spec.key
    ]
    updates += [
        sql.SQL("deleted_at = NULL"),
        sql.SQL("synced_at = now()"),
        sql.SQL("last_run_id = EXCLUDED.last_run_id"),
    ]
    return sql.SQL(
        "INSERT INTO {target} AS t ({columns}, last_run_id) "
        "SELECT {columns}, %(run_id)s FROM {staging} ORDER BY {key} "
        "ON CONFLICT ({key}) DO UPDATE SET {updates} "
        "WHERE t.fingerprint IS DISTINCT FROM EXCLUDED.fingerprint OR t.deleted_at IS NOT NULL "
        "RETURNING {returned_key}, t.xmax = 0"
    ).format(
        target=spec.table_sql,
        columns=columns,
        staging=staging,
        key=spec.key_sql(),
        updates=sql.SQL(", ").join(updates),
        returned_key=spec.key_select_sql("t"),
    )
