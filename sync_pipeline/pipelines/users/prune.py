"""Bookkeeping that does not grow for ever: finished worker checkpoints and dead pending rows.

    pruned = prune_bookkeeping(conn, retention=timedelta(days=7))

Every users worker run has a checkpoint scope of its own (`worker:<run key>`), so
`sync_checkpoints` gains a row per run. A checkpoint that is `completed`, or `failed` and older
than the resume window, is never read again: those untouched for `retention` are deleted.
Pending rows whose version was quarantined wait only for a newer version (which replaces the
row); those quarantined longer than `retention` are deleted too. Fresh changes and backfill
items not yet stored are never pruned: deleting them would lose a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg

from sync_pipeline.engine.checkpoints import DEFAULT_MAX_AGE
from sync_pipeline.pipelines.users.apply import PIPELINE

_CHECKPOINTS = (
    "DELETE FROM sync_checkpoints WHERE pipeline = %(pipeline)s "
    "AND status IN ('completed', 'failed') AND updated_at < now() - %(retention)s"
)
_PENDING = "DELETE FROM users_pending_changes WHERE quarantined_at < now() - %(retention)s"


@dataclass(frozen=True)
class Pruned:
    checkpoints: int
    pending_rows: int


def prune_bookkeeping(conn: psycopg.Connection, retention: timedelta) -> Pruned:
    """Delete the users checkpoints and quarantined pending rows older than `retention` (at
    least the checkpoints' resume window), in one transaction."""
    params = {"pipeline": PIPELINE, "retention": max(retention, DEFAULT_MAX_AGE)}
    with conn.transaction():
        checkpoints = conn.execute(_CHECKPOINTS, params).rowcount
        pending_rows = conn.execute(_PENDING, params).rowcount
    return Pruned(checkpoints, pending_rows)
