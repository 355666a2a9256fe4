"""Time on the reference upstream: integer UTC milliseconds inside, ISO 8601 with `Z` on the wire.

Generated data lives in a fixed window (`DATA_START_MS` to `DATA_END_MS`) so the same seed gives
the same bytes on any day. Mutations stamp records with the wall clock, never earlier than any
stamp already handed out, so `updated_at` only moves forward and time windows see every change.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

DAY_MS = 86_400_000
DATA_END_MS = 1_795_392_000_000  # 2026-11-23T00:00:00Z
DATA_START_MS = DATA_END_MS - 30 * DAY_MS  # 2026-10-24T00:00:00Z

_ISO_WIDTH = 24  # "2026-11-23T08:15:00.123Z"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso_from_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def ms_from_iso(text: str) -> int:
    """Parse an ISO 8601 timestamp (no offset means UTC) to milliseconds, rounding sub-millisecond
    parts up so that half-open windows on whole-millisecond data stay exact.

    Raises ValueError for anything else.
    """
    moment = datetime.fromisoformat(text.strip().replace(" ", "+"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return delta.days * DAY_MS + delta.seconds * 1000 + (delta.microseconds + 999) // 1000


def iso_column(ms: np.ndarray) -> list[str]:
    """Format a column of millisecond stamps at C speed (a Python loop costs ~1 s per million)."""
    ms = np.asarray(ms, dtype=np.int64)
    days = ms.astype("datetime64[ms]").astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months).astype(np.int64) + 1
    in_day = ms - days.astype(np.int64) * DAY_MS
    chars = np.empty((len(ms), _ISO_WIDTH), dtype=np.uint8)
    for column, value, width in (
        (0, year, 4),
        (5, month, 2),
        (8, day, 2),
        (11, in_day // 3_600_000, 2),
        (14, in_day // 60_000 % 60, 2),
        (17, in_day // 1000 % 60, 2),
        (20, in_day % 1000, 3),
    ):
        for digit in range(width):
            chars[:, column + width - 1 - digit] = ord("0") + value // 10**digit % 10
    for column, separator in (
        (4, "-"),
        (7, "-"),
        (10, "T"),
        (13, ":"),
        (16, ":"),
        (19, "."),
        (23, "Z"),
    ):
        chars[:, column] = ord(separator)
    return chars.view(f"S{_ISO_WIDTH}").ravel().astype(f"U{_ISO_WIDTH}").tolist()


class MutationClock:
    """Hands out stamps that never go backwards and are later than all generated data."""

    def __init__(self) -> None:
        self._last_ms = DATA_END_MS

    def advance_to(self, ms: int) -> None:
        self._last_ms = max(self._last_ms, ms)

    def next_ms(self) -> int:
        self._last_ms = max(now_ms(), self._last_ms + 1)
        return self._last_ms
