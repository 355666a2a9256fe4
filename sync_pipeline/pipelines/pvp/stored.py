"""What the stored pvp tables say about a board, for the asset checks and the metadata.

Each function is one query on a connection; none writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg

from sync_pipeline.pipelines.pvp.leaderboard import Board


@dataclass(frozen=True)
class RankSummary:
    entries: int
    distinct_ranks: int
    lowest: int | None
    highest: int | None

    @property
    def unique(self) -> bool:
        return self.entries == self.distinct_ranks

    @property
    def gaps(self) -> int:
        """Ranks missing from 1 to the last stored one (entries set aside leave gaps)."""
        return 0 if self.highest is None else self.highest - self.distinct_ranks


@dataclass(frozen=True)
class Coverage:
    """Public characters of the board's latest processed snapshot, and how many of them have an
    equipment snapshot younger than the max age."""

    snapshot_id: int | None
    public: int
    covered: int

    @property
    def share(self) -> float:
        return self.covered / self.public if self.public else 1.0


def rank_summary(conn: psycopg.Connection, snapshot_id: int) -> RankSummary:
    return RankSummary(
        *conn.execute(
            "SELECT count(*), count(DISTINCT rank), min(rank), max(rank) "
            "FROM pvp_leaderboard_entries WHERE snapshot_id = %s",
            (snapshot_id,),
        ).fetchone()
    )


def entries_without_character(conn: psycopg.Connection, snapshot_id: int) -> int:
    """Entries whose character row is missing or belongs to another region than the board."""
    return conn.execute(_ORPHANS, (snapshot_id,)).fetchone()[0]


def equipment_coverage(conn: psycopg.Connection, board: Board, max_age: timedelta) -> Coverage:
    row = conn.execute(
        _COVERAGE, {"region": board.region, "bracket": board.bracket, "max_age": max_age}
    ).fetchone()
    return Coverage(*row)


def private_characters(conn: psycopg.Connection, region: str) -> int:
    """Characters of the region remembered as private (never called for again)."""
    return conn.execute(_PRIVATE, (region,)).fetchone()[0]


_ORPHANS = """
SELECT count(*) FROM pvp_leaderboard_entries e
JOIN pvp_leaderboards s ON s.id = e.snapshot_id
LEFT JOIN pvp_characters c ON c.id = e.character_pk AND c.region = s.region
WHERE e.snapshot_id = %s AND c.id IS NULL
"""

_COVERAGE = """
WITH latest AS (
    SELECT id FROM pvp_leaderboards
    WHERE region = %(region)s AND bracket = %(bracket)s AND equipment_processed_at IS NOT NULL
    ORDER BY snapshot_at DESC LIMIT 1
), public AS (
    SELECT c.id FROM pvp_leaderboard_entries e JOIN pvp_characters c ON c.id = e.character_pk
    WHERE e.snapshot_id = (SELECT id FROM latest) AND NOT c.is_private AND c.not_found_at IS NULL
)
SELECT (SELECT id FROM latest), count(*),
       count(*) FILTER (WHERE EXISTS (
           SELECT FROM pvp_equipment_snapshots q
           WHERE q.character_pk = public.id AND q.fetched_at > now() - %(max_age)s))
FROM public
"""

_PRIVATE = "SELECT count(*) FROM pvp_characters WHERE region = %s AND is_private"
