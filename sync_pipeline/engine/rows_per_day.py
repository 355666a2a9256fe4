"""Rows of a synced table per UTC day of a timestamp column: what each daily partition holds.

A run over a range of daily partitions walks one window; what it stored is told apart per day
afterwards from the table itself: the live rows whose timestamp falls on the day, and those the
run wrote (`last_run_id`). A record whose timestamp moves (an `updated_at` that changed) counts
on its new day, as it belongs to that partition now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql


@dataclass(frozen=True)
class DayRows:
    """One day's rows: live ones, and the ones the run wrote (live or soft-deleted)."""

    live: int = 0
    written: int = 0


def rows_per_day(
    conn: psycopg.Connection,
    table: str,
    column: str,
    since: datetime | None,
    until: datetime | None,
    run_id: str,
) -> dict[str, DayRows]:
    """`YYYY-MM-DD` -> rows of `table` whose `column` falls on that UTC day within
    [`since`, `until`) (unbounded where None); days without rows are absent."""
    # Grouped by the date (a 4-byte value), formatted once per day here: formatting every row
    # with to_char cost a third more on 200k cars.
    query = sql.SQL(
        "SELECT ({col} AT TIME ZONE 'UTC')::date AS day, "
        "count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE last_run_id = %s) "
        "FROM {table} WHERE {col} IS NOT NULL "
        "AND (%s::timestamptz IS NULL OR {col} >= %s) AND (%s::timestamptz IS NULL OR {col} < %s) "
        "GROUP BY 1"
    ).format(col=sql.Identifier(column), table=sql.Identifier(table))
    rows = conn.execute(query, (run_id, since, since, until, until)).fetchall()
    return {day.isoformat(): DayRows(live, written) for day, live, written in rows}
