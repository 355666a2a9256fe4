"""Soft-deleting the keys a full snapshot of a scope no longer has, behind a safety threshold.

Rows are never hard-deleted: `deleted_at` is set, and a `deleted_at` entry goes to the change
log in the same statement. When the missing share of the scope's live rows is at or above the
threshold (default 5%), nothing is deleted unless forced: a half-empty response from an API
is far likelier than a catalogue losing a twentieth of itself overnight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.records import Key

DEFAULT_SOFT_DELETE_THRESHOLD = 0.05


@dataclass
class SnapshotOutcome:
    """What a full snapshot did to its scope's missing keys.

    `refused` says why the missing keys were left alone (None when they were soft-deleted);
    `deferred` live keys were missing too but could not be told gone from shifted by the walk
    (`deferred_reason`): they stay live, and the next full snapshot decides them.
    """

    live_before: int
    missing: int
    deferred: int = 0
    deferred_reason: str | None = None
    soft_deleted: list[Key] = field(default_factory=list)
    refused: str | None = None


def soft_delete_refusal(missing: int, live: int, threshold: float, force: bool) -> str | None:
    """Why `missing` of `live` keys must not be soft-deleted, or None when they may be."""
    if force or missing == 0:
        return None
    share = missing / live
    if share < threshold:
        return None
    return (
        f"{missing} of {live} live rows ({share:.1%}) are missing from the snapshot, at or above "
        f"the {threshold:.0%} safety threshold; nothing was soft-deleted (force to override)"
    )


def soft_delete_rows(
    conn: psycopg.Connection, spec: EntitySpec, keys: Sequence[Key], run_id: str
) -> list[Key]:
    """Set `deleted_at` on the live rows of `keys` and log it; returns the keys it deleted.

    Run it inside a transaction (the time zone setting is local to it).
    """
    if not keys:
        return []
    conn.execute("SET LOCAL TimeZone = 'UTC'")  # how the change log renders deleted_at
    params = [run_id, *spec.key_arrays(list(keys)), run_id, spec.table]
    rows = conn.execute(_soft_delete_statement(spec), params).fetchall()
    if len(spec.key) == 1:
        return [row[0] for row in rows]
    return [tuple(row) for row in rows]


def _soft_delete_statement(spec: EntitySpec) -> sql.Composed:
    return sql.SQL(
        "WITH gone AS ("
        " UPDATE {target} AS t SET deleted_at = now(), synced_at = now(), last_run_id = %s"
        " WHERE {key_in} AND t.deleted_at IS NULL"
        " RETURNING {key_select}, {key_text} AS record_key, t.deleted_at"
        "), logged AS ("
        " INSERT INTO sync_change_log"
        " (run_id, entity, record_key, column_name, old_value, new_value)"
        " SELECT %s, %s, record_key, 'deleted_at', NULL, to_jsonb(deleted_at) FROM gone"
        ") SELECT {keys} FROM gone"
    ).format(
        target=spec.table_sql,
        key_in=spec.key_in_sql("t"),
        key_select=spec.key_select_sql("t"),
        key_text=spec.key_text_sql("t"),
        keys=spec.key_sql(),
    )
