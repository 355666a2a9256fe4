"""Daily `updated_at` windows of the users API: the reconcile's unit, and the worker runs' key.

`end_offset=1` makes today's (still open) window a partition too: changes found by the
detector mostly carry today's stamp. Windows are UTC days, half-open like the API's.
"""

from datetime import UTC, datetime

import dagster as dg

USERS_PARTITIONS_START = "2026-10-01"

users_daily_partitions = dg.DailyPartitionsDefinition(
    start_date=USERS_PARTITIONS_START, end_offset=1, timezone="UTC"
)


def partition_for(stamp: datetime | None, now: datetime) -> str:
    """The partition of a change stamped `stamp` (None: today): its UTC day, clamped to the
    partitions that exist at `now` (a stamp from before the first day or from a clock ahead of
    ours lands in the first or last one). With `end_offset=1` the last partition is today's."""
    day = (stamp or now).astimezone(UTC).strftime("%Y-%m-%d")
    today = now.astimezone(UTC).strftime("%Y-%m-%d")
    return min(max(day, USERS_PARTITIONS_START), today)
