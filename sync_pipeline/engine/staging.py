"""The staging table that a batch's new and changed rows are COPYed into before the merge.

A TEMP table `ON COMMIT DELETE ROWS`, one per pooled connection and table shape: private to the
session (so to the batch using it), never WAL-logged, emptied by every commit, and gone with
its session, so a crash leaves nothing to clean up. Its shape is derived from the target
(`CREATE ... AS SELECT ... WITH NO DATA`: the staged columns, no constraints) and its name
carries a hash of that shape, so a migrated target gets a fresh staging table.

TEMP rather than UNLOGGED in a shared schema: both take COPY at the same speed, but emptying an
UNLOGGED table between batches (TRUNCATE) costs ~3 ms and an fsync per batch, against ~0.1 ms
for the commit-time delete of a TEMP table, and an UNLOGGED table outlives a crashed run (see
the load benchmark for both figures).
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import xxhash
from psycopg import sql

from sync_pipeline.engine.entity import EntitySpec

ANALYZE_MIN_ROWS = 1000
_REJECTABLE = (psycopg.DataError, UnicodeEncodeError)


class StagingTable:
    """The staging table of one spec: `load` rows into it, then read `identifier` in SQL."""

    def __init__(self, spec: EntitySpec) -> None:
        shape = ",".join(f"{c.name}:{c.type.sql_name}" for c in spec.columns)
        self.spec = spec
        self.name = (
            f"sync_stage_{spec.table.split('.')[-1][:30]}_"
            f"{xxhash.xxh3_64_hexdigest(shape.encode())[:10]}"
        )
        self.identifier = sql.Identifier("pg_temp", self.name)
        self._columns = sql.SQL(", ").join(map(sql.Identifier, spec.copy_columns))

    def load(
        self, conn: psycopg.Connection, rows: Sequence[Sequence], analyze: bool = False
    ) -> list[tuple[int, str]]:
        """COPY `rows` into the (empty) table; returns (index, reason) of rows PostgreSQL refused.

        Must run inside the batch transaction. `analyze` refreshes the table's statistics for a
        next statement that joins it. Raises what `copy_rows` raises.
        """
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS "
                "SELECT {} FROM {} WITH NO DATA"
            ).format(sql.Identifier(self.name), self._columns, self.spec.table_sql)
        )
        rejected = copy_rows(conn, self.identifier, self._columns, rows)
        if analyze and len(rows) - len(rejected) >= ANALYZE_MIN_ROWS:
            conn.execute(sql.SQL("ANALYZE {}").format(self.identifier))
        return rejected


def copy_rows(
    conn: psycopg.Connection,
    table: sql.Composable,
    columns: sql.Composable,
    rows: Sequence[Sequence],
) -> list[tuple[int, str]]:
    """COPY `rows` into `table`; returns (index, reason) of the rows PostgreSQL refused.

    Must run inside a transaction. A refused value (one the Python checks let through) costs a
    few extra COPYs: the rows are split in halves under savepoints until the offending ones are
    isolated, and every other row is loaded. Raises any other error (a unique violation, say).
    """
    rejected: list[tuple[int, str]] = []
    _copy_or_split(
        conn, sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns), rows, 0, rejected
    )
    return rejected


def _copy_or_split(
    conn: psycopg.Connection,
    statement: sql.Composed,
    rows: Sequence[Sequence],
    offset: int,
    rejected: list[tuple[int, str]],
) -> None:
    if not rows:
        return
    try:
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)
    except _REJECTABLE as exc:
        if len(rows) == 1:
            rejected.append((offset, f"rejected by PostgreSQL: {_first_line(exc)}"))
            return
        middle = len(rows) // 2
        _copy_or_split(conn, statement, rows[:middle], offset, rejected)
        _copy_or_split(conn, statement, rows[middle:], offset + middle, rejected)


def _first_line(exc: Exception) -> str:
    """The error's first line, with PostgreSQL's COPY context (which names the column), if any."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    diag = getattr(exc, "diag", None)
    context = diag.context.strip().splitlines()[0] if diag is not None and diag.context else ""
    return f"{first} ({context})" if context else first
