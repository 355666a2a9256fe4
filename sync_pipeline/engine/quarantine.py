"""Records that cannot be typed go to `sync_quarantine`, in the transaction of their batch.

Each keeps its source, entity, key (as text, when it has one), the reason and the raw record as
JSON text: text rather than jsonb because jsonb refuses the \\u0000 escape, and a NUL byte in a
string is one of the reasons a record is quarantined. The rest of the batch loads as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.records import Rejection

_INSERT = (
    "INSERT INTO sync_quarantine (source, entity, run_id, record_key, reason, raw_json) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


def quarantine_records(
    conn: psycopg.Connection, spec: EntitySpec, run_id: str, rejections: Sequence[Rejection]
) -> int:
    """Write one quarantine row per rejection; returns how many were written."""
    if not rejections:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            _INSERT,
            [
                (spec.source, spec.table, run_id, r.key_text, r.reason, r.raw_json)
                for r in rejections
            ],
        )
    return len(rejections)
