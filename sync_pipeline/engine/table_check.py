"""Refuse to sync into a table that does not match its `EntitySpec`, before writing anything."""

from __future__ import annotations

import psycopg

from sync_pipeline.engine.entity import EntitySpec, SpecError

BOOKKEEPING_TYPES = {
    "extra": "jsonb",
    "fingerprint": "bytea",
    "deleted_at": "timestamp with time zone",
    "first_seen_at": "timestamp with time zone",
    "synced_at": "timestamp with time zone",
    "last_run_id": "text",
}


def check_table_matches_spec(conn: psycopg.Connection, spec: EntitySpec) -> None:
    """Raise `SpecError` naming every column that is missing or typed differently from the spec,
    and every NOT NULL column without a default that the spec does not mark required (a record
    without it would fail its whole batch instead of being quarantined).

    Columns the table has beyond the spec are fine (the sync never writes them).
    """
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull AND NOT a.atthasdef "
        "FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
        (spec.table,),
    ).fetchall()
    if not rows:
        raise SpecError(
            f"table {spec.table!r} does not exist; is the migration that creates it applied?"
        )
    actual = {name: sql_type for name, sql_type, _ in rows}
    expected = {c.name: c.type.sql_name for c in spec.columns} | BOOKKEEPING_TYPES
    problems = []
    for name, sql_type in expected.items():
        if name not in actual:
            problems.append(f"column {name!r} is missing")
        elif actual[name] != sql_type:
            problems.append(f"column {name!r} is {actual[name]}, the spec says {sql_type}")
    optional = {c.name for c in spec.columns if not c.required and c.name not in spec.key}
    problems += [
        f"column {name!r} is NOT NULL without a default, but not required in the spec"
        for name, _, not_null in rows
        if not_null and name in optional
    ]
    if problems:
        raise SpecError(f"table {spec.table!r} does not match its spec: " + "; ".join(problems))
