"""How complete the users table is: rows with their detail, the queue by priority, the ETA.

    coverage = read_coverage(conn)
    coverage.eta_s(detail_rps=0.25)   # seconds to empty the queue at that limit

The ETA assumes the whole detail limit goes to the queue (fresh changes and backfill items
alike: each costs one detail request), so it is the time at the current limit, not a promise
that no new change will arrive meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

_COVERAGE = """
SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL),
       (SELECT count(*) FROM users WHERE deleted_at IS NULL AND detail_synced_at IS NOT NULL),
       count(*) FILTER (WHERE priority = 0 AND quarantined_at IS NULL),
       count(*) FILTER (WHERE priority = 1 AND quarantined_at IS NULL),
       count(*) FILTER (WHERE quarantined_at IS NOT NULL)
FROM users_pending_changes
"""


@dataclass(frozen=True)
class Coverage:
    """Live users, those with their detail, and the pending queue by priority."""

    live: int
    complete: int
    fresh_pending: int
    backfill_pending: int
    quarantined_pending: int

    @property
    def share(self) -> float:
        """complete / live (1.0 for an empty table)."""
        return self.complete / self.live if self.live else 1.0

    @property
    def queued(self) -> int:
        return self.fresh_pending + self.backfill_pending

    def eta_s(self, detail_rps: float) -> float | None:
        """Seconds to fetch every queued detail at `detail_rps` (None without a limit)."""
        return self.queued / detail_rps if detail_rps > 0 else None

    def describe(self, detail_rps: float) -> str:
        eta = self.eta_s(detail_rps)
        eta_text = "unknown (no limit set)" if eta is None else _duration(eta)
        return (
            f"details: {self.complete:,} of {self.live:,} users complete "
            f"({100 * self.share:.1f}%); queue: {self.fresh_pending:,} fresh changes, "
            f"{self.backfill_pending:,} backfill items; "
            f"ETA {eta_text} at {detail_rps:g} requests/s"
        )


def read_coverage(conn: psycopg.Connection) -> Coverage:
    return Coverage(*conn.execute(_COVERAGE).fetchone())


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"
