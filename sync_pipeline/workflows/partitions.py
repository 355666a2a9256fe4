"""Monthly partitions of `contact_field_changes`: created ahead, dropped after the retention."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

DEFAULT_MONTHS_AHEAD = 3
DEFAULT_RETENTION_MONTHS = 6


@dataclass(frozen=True)
class PartitionMaintenance:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def maintain_change_partitions(
    conn: psycopg.Connection,
    months_ahead: int = DEFAULT_MONTHS_AHEAD,
    retention_months: int = DEFAULT_RETENTION_MONTHS,
) -> PartitionMaintenance:
    """Create this month's and the next `months_ahead` months' partitions, drop those that ended
    more than `retention_months` months before this month; one transaction (committed here)."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT action, partition_name FROM maintain_contact_field_changes(%s, %s)",
            (months_ahead, retention_months),
        ).fetchall()
    result = PartitionMaintenance()
    for action, name in rows:
        (result.created if action == "created" else result.dropped).append(name)
    return result


def change_partitions(conn: psycopg.Connection) -> list[str]:
    """The monthly partitions that exist now, oldest first (the default partition left out)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'contact_field_changes'::regclass AND c.relname <> "
        "'contact_field_changes_default' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]
