"""`sync_checkpoints`: where a (pipeline, partition) stream stands, one row per stream.

A run starts with `start_or_resume`: a checkpoint left `running` or `failed` less than
`max_age` ago (default 24 h) is resumed from its page or cursor, anything else starts afresh.
A position means something only with what it counts in: the run says how it asks (`layout`:
page size, ordering, scope parameters), and a checkpoint written with another layout is
translated when only the page size differs (page 7 of 500 is page 4 of 1,000 with the first
500 records of it skipped; a cursor names a record, not a page, and stays as it is) and
otherwise not resumed: the scope starts over. Either way `Checkpoint.note` says so, for the
run's log and metadata. Every source builds its layout with `listing_layout`, and `SyncRun`
refuses a paged position without one, so no checkpoint is written that a resume cannot read.
Each batch calls `advance` inside its own transaction, so the checkpoint moves exactly when the
batch's rows commit: a resumed run neither skips nor repeats a page. `advance` checks that this
run still owns the checkpoint and raises `CheckpointLost` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

DEFAULT_MAX_AGE = timedelta(hours=24)
_COLUMNS = (
    "pipeline, partition, run_id, page, cursor, rows_done, status, started_at, updated_at, layout"
)
logger = logging.getLogger(__name__)


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
    layout: dict[str, Any] | None = None
    resumed: bool = False
    skip_records: int = 0
    note: str | None = None

    @property
    def next_page(self) -> int:
        """The first page still to fetch (1 for a fresh stream); its first `skip_records`
        records were committed already (a page translated from another page size)."""
        return (self.page or 0) + 1


@dataclass(frozen=True)
class ResumePlan:
    """How a run with a given layout continues a stored position: from `page` (in the run's own
    page size) skipping `skip_records`, or not at all (`restart`); `note` says why, if not as is."""

    page: int | None
    skip_records: int = 0
    restart: bool = False
    note: str | None = None


def listing_layout(
    page_size: int, params: Mapping[str, Any] | None = None, order: str = "id"
) -> dict[str, Any]:
    """What a position in a listing means: its page size, its order (the key it is sorted by)
    and the query parameters that choose its records (filters, scope)."""
    return {"page_size": page_size, "order": order, "params": dict(params or {})}


def plan_resume(
    page: int | None,
    cursor: str | None,
    stored: Mapping[str, Any] | None,
    layout: Mapping[str, Any] | None,
) -> ResumePlan:
    """How a run asking with `layout` continues a position written with layout `stored`.

    The same layout (or a run that records none) resumes as is; a layout differing only in
    `page_size` translates a page position exactly and keeps a cursor; anything else starts
    over.
    """
    if layout is None or stored == dict(layout):
        return ResumePlan(page)
    where = f"page {page or 0}" if cursor is None else f"cursor {cursor!r}"
    if stored is None:
        return ResumePlan(
            None,
            restart=True,
            note=f"the checkpoint at {where} does not record what its position "
            "counts in; starting the scope over",
        )
    differing = sorted(k for k in set(stored) | set(layout) if stored.get(k) != layout.get(k))
    if differing == ["page_size"] and cursor is not None:
        return ResumePlan(
            page,
            note=f"checkpoint at cursor {cursor!r} written in pages of {stored.get('page_size')} "
            f"resumed as is in pages of {layout.get('page_size')} (a cursor names a record)",
        )
    if differing == ["page_size"] and stored.get("page_size") and layout.get("page_size"):
        done = (page or 0) * stored["page_size"]
        new_page, skip = divmod(done, layout["page_size"])
        note = (
            f"checkpoint at page {page or 0} of {stored['page_size']} records translated to page "
            f"{new_page} of {layout['page_size']}"
            + (f", skipping the first {skip} records of page {new_page + 1}" if skip else "")
        )
        return ResumePlan(new_page or None, skip, note=note)
    changed = ", ".join(f"{k} {stored.get(k)!r} -> {layout.get(k)!r}" for k in differing)
    return ResumePlan(
        None,
        restart=True,
        note=f"the checkpoint at {where} was written for another listing ({changed}); "
        "starting the scope over",
    )


def start_or_resume(
    conn: psycopg.Connection,
    pipeline: str,
    partition: str,
    run_id: str,
    max_age: timedelta = DEFAULT_MAX_AGE,
    layout: Mapping[str, Any] | None = None,
) -> Checkpoint:
    """Resume the stream's unfinished checkpoint younger than `max_age`, or start a fresh one.

    `layout` says what this run's positions count in (see `plan_resume`); a checkpoint of
    another layout is translated or started over, and `note` (also logged) says which.
    Either way the checkpoint now belongs to `run_id`, with status `running`; committed here.
    The stored position keeps its own layout until the run's first `advance` rewrites both.
    """
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT status <> 'completed' AND updated_at > now() - %s AS resumable, "
            "page, cursor, layout "
            "FROM sync_checkpoints WHERE pipeline = %s AND partition = %s FOR UPDATE",
            (max_age, pipeline, partition),
        )
        found = cur.fetchone()
        plan = (
            plan_resume(found["page"], found["cursor"], found["layout"], layout) if found else None
        )
        if found and found["resumable"] and not plan.restart:
            cur.execute(
                "UPDATE sync_checkpoints SET run_id = %s, status = 'running', updated_at = now() "
                f"WHERE pipeline = %s AND partition = %s RETURNING {_COLUMNS}",
                (run_id, pipeline, partition),
            )
            resumed = replace(
                Checkpoint(**cur.fetchone(), resumed=True),
                page=plan.page,
                skip_records=plan.skip_records,
                note=plan.note,
            )
            return _noted(resumed if layout is None else replace(resumed, layout=dict(layout)))
        cur.execute(
            "INSERT INTO sync_checkpoints (pipeline, partition, run_id, status, layout) "
            "VALUES (%s, %s, %s, 'running', %s) "
            "ON CONFLICT (pipeline, partition) DO UPDATE SET run_id = EXCLUDED.run_id, "
            "page = NULL, cursor = NULL, rows_done = 0, status = 'running', "
            "layout = EXCLUDED.layout, started_at = now(), updated_at = now() "
            f"RETURNING {_COLUMNS}",
            (pipeline, partition, run_id, _jsonb(layout)),
        )
        restarted = found is not None and found["resumable"] and plan.restart
        return _noted(replace(Checkpoint(**cur.fetchone()), note=plan.note if restarted else None))


def _noted(checkpoint: Checkpoint) -> Checkpoint:
    if checkpoint.note:
        logger.warning("%s/%s: %s", checkpoint.pipeline, checkpoint.partition, checkpoint.note)
    return checkpoint


def _jsonb(layout: Mapping[str, Any] | None) -> Jsonb | None:
    return None if layout is None else Jsonb(dict(layout))


def advance(
    conn: psycopg.Connection, checkpoint: Checkpoint, position: Position, rows: int
) -> Checkpoint:
    """Move the checkpoint to `position`, adding `rows`; call inside the batch's transaction.

    Raises `CheckpointLost` when another run owns the checkpoint now.
    """
    cur = conn.execute(
        "UPDATE sync_checkpoints SET page = %s, cursor = %s, rows_done = rows_done + %s, "
        "updated_at = now(), layout = coalesce(%s, layout) "
        "WHERE pipeline = %s AND partition = %s AND run_id = %s RETURNING rows_done, updated_at",
        (
            position.page,
            position.cursor,
            rows,
            _jsonb(checkpoint.layout),
            checkpoint.pipeline,
            checkpoint.partition,
            checkpoint.run_id,
        ),
    )
    found = cur.fetchone()
    if found is None:
        raise CheckpointLost(
            f"checkpoint {checkpoint.pipeline}/{checkpoint.partition} is no longer owned by "
            f"run {checkpoint.run_id}"
        )
    return replace(
        checkpoint,
        page=position.page,
        cursor=position.cursor,
        rows_done=found[0],
        updated_at=found[1],
        skip_records=0,
    )


def set_status(conn: psycopg.Connection, checkpoint: Checkpoint, status: str) -> Checkpoint:
    """Mark the checkpoint `completed` (never resumed) or `failed` (resumable); raises
    `CheckpointLost` when another run owns it."""
    cur = conn.execute(
        "UPDATE sync_checkpoints SET status = %s, updated_at = now() "
        "WHERE pipeline = %s AND partition = %s AND run_id = %s RETURNING updated_at",
        (status, checkpoint.pipeline, checkpoint.partition, checkpoint.run_id),
    )
    found = cur.fetchone()
    if found is None:
        raise CheckpointLost(
            f"checkpoint {checkpoint.pipeline}/{checkpoint.partition} is no longer owned by "
            f"run {checkpoint.run_id}"
        )
    return replace(checkpoint, status=status, updated_at=found[0])


def read_checkpoint(conn: psycopg.Connection, pipeline: str, partition: str) -> Checkpoint | None:
    """The stream's checkpoint as stored, or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM sync_checkpoints WHERE pipeline = %s AND partition = %s",
            (pipeline, partition),
        )
        found = cur.fetchone()
    return Checkpoint(**found) if found else None
