"""`sync_checkpoints`: where a (pipeline, partition) stream stands, one row per stream.

A run starts with `start_or_resume`: a checkpoint left `running` or `failed` less than
`max_age` ago (default 24 h) is resumed from its page or cursor, anything else starts afresh.
Each batch calls `advance` inside its own transaction, so the checkpoint moves exactly when the
batch's rows commit: a resumed run neither skips nor repeats a page. `advance` checks that this
run still owns the checkpoint and raises `CheckpointLost` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

DEFAULT_MAX_AGE = timedelta(hours=24)
_COLUMNS = "pipeline, partition, run_id, page, cursor, rows_done, status, started_at, updated_at"


class CheckpointLost(RuntimeError):
    """Another run took the checkpoint over; this run must stop writing."""


@dataclass(frozen=True)
class Position:
    """Where a stream stands after a batch: the last page committed and/or the cursor to go on
    from. Cursor streams should count pages too: pages done with no cursor means exhausted."""

    page: int | None = None
    cursor: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    pipeline: str
    partition: str
    run_id: str
    page: int | None
    cursor: str | None
    rows_done: int
    status: str
    started_at: datetime
    updated_at: datetime
    resumed: bool = False

    @property
    def next_page(self) -> int:
        """The first page still to fetch (1 for a fresh stream)."""
        return (self.page or 0) + 1


def start_or_resume(conn: psycopg.Connection, pipeline: str, partition: str, run_id: str,
                    max_age: timedelta = DEFAULT_MAX_AGE) -> Checkpoint:
    """Resume the stream's unfinished checkpoint younger than `max_age`, or start a fresh one.

    Either way the checkpoint now belongs to `run_id`, with status `running`; committed here.
    """
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT status <> 'completed' AND updated_at > now() - %s AS resumable "
                    "FROM sync_checkpoints WHERE pipeline = %s AND partition = %s FOR UPDATE",
                    (max_age, pipeline, partition))
        found = cur.fetchone()
        if found and found["resumable"]:
            cur.execute("UPDATE sync_checkpoints SET run_id = %s, status = 'running', updated_at = now() "
                        f"WHERE pipeline = %s AND partition = %s RETURNING {_COLUMNS}", (run_id, pipeline, partition))
            return Checkpoint(**cur.fetchone(), resumed=True)
        cur.execute(
            "INSERT INTO sync_checkpoints (pipeline, partition, run_id, status) VALUES (%s, %s, %s, 'running') "
            "ON CONFLICT (pipeline, partition) DO UPDATE SET run_id = EXCLUDED.run_id, page = NULL, cursor = NULL, "
            f"rows_done = 0, status = 'running', started_at = now(), updated_at = now() RETURNING {_COLUMNS}",
            (pipeline, partition, run_id))
        return Checkpoint(**cur.fetchone())


def advance(conn: psycopg.Connection, checkpoint: Checkpoint, position: Position, rows: int) -> Checkpoint:
    """Move the checkpoint to `position`, adding `rows`; call inside the batch's transaction.

    Raises `CheckpointLost` when another run owns the checkpoint now.
    """
    cur = conn.execute(
        "UPDATE sync_checkpoints SET page = %s, cursor = %s, rows_done = rows_done + %s, updated_at = now() "
        "WHERE pipeline = %s AND partition = %s AND run_id = %s RETURNING rows_done, updated_at",
        (position.page, position.cursor, rows, checkpoint.pipeline, checkpoint.partition, checkpoint.run_id))
    found = cur.fetchone()
    if found is None:
        raise CheckpointLost(f"checkpoint {checkpoint.pipeline}/{checkpoint.partition} is no longer owned by "
                             f"run {checkpoint.run_id}")
    return replace(checkpoint, page=position.page, cursor=position.cursor, rows_done=found[0], updated_at=found[1])


def set_status(conn: psycopg.Connection, checkpoint: Checkpoint, status: str) -> Checkpoint:
    """Mark the checkpoint `completed` (never resumed) or `failed` (resumable); raises
    `CheckpointLost` when another run owns it."""
    cur = conn.execute(
        "UPDATE sync_checkpoints SET status = %s, updated_at = now() "
        "WHERE pipeline = %s AND partition = %s AND run_id = %s RETURNING updated_at",
        (status, checkpoint.pipeline, checkpoint.partition, checkpoint.run_id))
    found = cur.fetchone()
    if found is None:
        raise CheckpointLost(f"checkpoint {checkpoint.pipeline}/{checkpoint.partition} is no longer owned by "
                             f"run {checkpoint.run_id}")
    return replace(checkpoint, status=status, updated_at=found[0])


def read_checkpoint(conn: psycopg.Connection, pipeline: str, partition: str) -> Checkpoint | None:
    """The stream's checkpoint as stored, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM sync_checkpoints WHERE pipeline = %s AND partition = %s",
                    (pipeline, partition))
        found = cur.fetchone()
    return Checkpoint(**found) if found else None
