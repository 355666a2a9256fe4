"""Daily `updated_at` windows for incremental cars syncs.

`end_offset=1` makes today's (still open) window a partition too, so the hourly schedule can
keep it fresh; windows are UTC days, half-open like the API's `updated_since`/`updated_until`.
"""

import dagster as dg

CARS_PARTITIONS_START = "2026-10-01"

cars_daily_partitions = dg.DailyPartitionsDefinition(
    start_date=CARS_PARTITIONS_START, end_offset=1, timezone="UTC"
)
