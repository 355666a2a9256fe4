"""One batch: typed in Python (`prepare_batch`), then written in one transaction (`write_batch`).

`write_batch` stages the rows, logs field diffs, merges and quarantines (a batch of new keys
only is COPYed straight in) inside the caller's transaction; the caller advances the checkpoint
in it before committing, so the batch's rows, change-log entries, quarantined records and
checkpoint commit together or not at all. Only new and changed records are typed and written;
unchanged ones were settled by the classification.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.errors import UniqueViolation

from sync_pipeline.engine.change_log import lock_and_log_field_diffs
from sync_pipeline.engine.changeset import Candidate, ChangeSet
from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.merge import merge_staged_rows
from sync_pipeline.engine.quarantine import quarantine_records
from sync_pipeline.engine.records import (
    Key,
    RecordRejected,
    Rejection,
    key_text,
    raw_json,
    record_row,
)
from sync_pipeline.engine.staging import ANALYZE_MIN_ROWS, StagingTable, copy_rows


@dataclass
class PreparedBatch:
    """A classified batch with its COPY rows: `staged[i]` is the record of `rows[i]`.

    `changed` counts the staged rows that replace a stored one: when there are none (a first
    load), the rows are COPYed straight into the target (see `write_batch`).
    """

    staged: list[Candidate] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    changed: int = 0
    unchanged: int = 0
    duplicates: int = 0

    @property
    def writes_nothing(self) -> bool:
        return not self.rows and not self.rejected


@dataclass
class BatchResult:
    """What one batch wrote. `unchanged` includes staged rows the fingerprint guard skipped."""

    inserted: list[Key] = field(default_factory=list)
    updated: list[Key] = field(default_factory=list)
    unchanged: int = 0
    quarantined: int = 0
    duplicates: int = 0
    diffs_logged: int = 0


def prepare_batch(spec: EntitySpec, changes: ChangeSet) -> PreparedBatch:
    """Type the new and changed records of `changes`; records that fail join the rejections."""
    batch = PreparedBatch(
        rejected=list(changes.rejected),
        changed=len(changes.changed),
        unchanged=len(changes.unchanged),
        duplicates=changes.duplicates,
    )
    for candidate in changes.to_write:
        try:
            batch.rows.append(record_row(spec, candidate.record, candidate.fingerprint))
        except RecordRejected as exc:
            batch.rejected.append(
                Rejection(key_text(candidate.key), str(exc), raw_json(candidate.record))
            )
            continue
        batch.staged.append(candidate)
    return batch


def write_batch(
    conn: psycopg.Connection,
    spec: EntitySpec,
    staging: StagingTable,
    run_id: str,
    batch: PreparedBatch,
) -> BatchResult:
    """Write `batch` inside the caller's open transaction; returns what was written.

    A batch of only new keys (a first load) is COPYed straight into the target: half the work
    of staging then merging. Should another writer have inserted one of those keys meanwhile,
    the COPY fails on the primary key, is rolled back to its savepoint, and the batch takes the
    staging path, whose ON CONFLICT guard settles it. Rows that PostgreSQL refuses in a COPY are
    quarantined and the rest load. Raises other psycopg errors; the caller's transaction then
    rolls back everything of the batch.
    """
    result = BatchResult(duplicates=batch.duplicates)
    refused: list[tuple[int, str]] = []
    if batch.rows:
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        inserted = _insert_new_rows(conn, spec, run_id, batch) if batch.changed == 0 else None
        if inserted is not None:
            refused, result.inserted = inserted
        else:
            refused = staging.load(conn, batch.rows, analyze=batch.changed >= ANALYZE_MIN_ROWS)
            result.diffs_logged = lock_and_log_field_diffs(conn, spec, staging, run_id)
            outcome = merge_staged_rows(conn, spec, staging, run_id)
            result.inserted, result.updated = outcome.inserted, outcome.updated
    rejected = batch.rejected + [
        Rejection(key_text(batch.staged[i].key), reason, raw_json(batch.staged[i].record))
        for i, reason in refused
    ]
    loaded = len(batch.rows) - len(refused)
    result.unchanged = batch.unchanged + loaded - len(result.inserted) - len(result.updated)
    result.quarantined = quarantine_records(conn, spec, run_id, rejected)
    return result


def _insert_new_rows(
    conn: psycopg.Connection, spec: EntitySpec, run_id: str, batch: PreparedBatch
) -> tuple[list[tuple[int, str]], list[Key]] | None:
    """COPY the rows into the target; (refused rows, inserted keys), or None on a key conflict."""
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.copy_columns + ("last_run_id",)))
    for (
        row
    ) in batch.rows:  # in place, undone below: copying every row would cost a tenth of the batch
        row.append(run_id)
    try:
        with conn.transaction():
            refused = copy_rows(conn, spec.table_sql, columns, batch.rows)
    except UniqueViolation:
        return None
    finally:
        for row in batch.rows:
            row.pop()
    skipped = {index for index, _ in refused}
    return refused, [c.key for i, c in enumerate(batch.staged) if i not in skipped]
