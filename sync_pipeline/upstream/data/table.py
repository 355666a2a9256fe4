"""`RecordTable`: the records of one kind, each serialized once, in key order, indexed for paging.

Pages are built by joining stored bytes, so the hot path never builds a dict or a model.
Mutations build a new table (an admin action, rare); a table is read-only once built, so the
indexes it caches (time windows, update order, hostile variants) stay valid for its lifetime.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

MAX_CACHED_WINDOWS = 32  # a window of 200k cars holds up to 1.6 MB of positions


def to_blob(record: dict[str, Any]) -> bytes:
    """The record as compact JSON, in a right-sized bytes object.

    orjson 3.13 hands out bytes objects with a 4 KB buffer whatever their length; kept by the
    hundred thousand that is 1.6 GB, so every stored blob is copied down to its own size.
    """
    return memoryview(orjson.dumps(record)).tobytes()


@dataclass(frozen=True)
class Row:
    """One record as stored: its sort key, wire bytes, `updated_at` and an optional second form."""

    key: Any
    blob: bytes
    updated_ms: int
    detail: bytes | None = None


@dataclass(eq=False)
class RecordTable:
    """Immutable, key-ordered records. `keys` may be tuples: (group, id) keeps groups contiguous."""

    keys: list[Any]
    blobs: list[bytes]
    updated_ms: np.ndarray
    details: list[bytes] | None = None
    _positions: dict[Any, int] | None = field(default=None, repr=False)
    _windows: dict[tuple[int | None, int | None], np.ndarray] = field(
        default_factory=dict, repr=False
    )
    _update_order: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _variants: dict[str, tuple[list[bytes], list[bytes] | None]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def from_rows(cls, rows: Sequence[Row], presorted: bool = False) -> RecordTable:
        ordered = rows if presorted else sorted(rows, key=lambda row: row.key)
        has_details = bool(ordered) and ordered[0].detail is not None
        return cls(
            keys=[r.key for r in ordered],
            blobs=[r.blob for r in ordered],
            updated_ms=np.fromiter(
                (r.updated_ms for r in ordered), dtype=np.int64, count=len(ordered)
            ),
            details=[r.detail for r in ordered] if has_details else None,
        )

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self) -> list[Row]:
        details = self.details or [None] * len(self.keys)
        return [
            Row(k, b, int(u), d)
            for k, b, u, d in zip(self.keys, self.blobs, self.updated_ms.tolist(), details)
        ]

    def position(self, key: Hashable) -> int | None:
        if self._positions is None:
            self._positions = {key: index for index, key in enumerate(self.keys)}
        return self._positions.get(key)

    def group_range(self, group: Hashable) -> tuple[int, int]:
        """Positions [lo, hi) of the keys `(group, ...)`."""
        lo = bisect.bisect_left(self.keys, (group,))
        hi = bisect.bisect_left(self.keys, (group, _AFTER_EVERYTHING), lo)
        return lo, hi

    def first_after(self, key: Any, lo: int = 0, hi: int | None = None) -> int:
        """Position of the first key greater than `key`."""
        return bisect.bisect_right(self.keys, key, lo, len(self.keys) if hi is None else hi)

    def in_window(self, since_ms: int | None, until_ms: int | None) -> np.ndarray:
        """Positions (in key order) with since <= updated_at < until; cached per window."""
        window = (since_ms, until_ms)
        positions = self._windows.get(window)
        if positions is None:
            mask = np.ones(len(self.keys), dtype=bool)
            if since_ms is not None:
                mask &= self.updated_ms >= since_ms
            if until_ms is not None:
                mask &= self.updated_ms < until_ms
            positions = np.flatnonzero(mask)
            if len(self._windows) >= MAX_CACHED_WINDOWS:
                self._windows.clear()
            self._windows[window] = positions
        return positions

    def in_update_order(self, since_ms: int | None, until_ms: int | None) -> np.ndarray:
        """Positions ordered by (updated_at, key) with since <= updated_at < until (keys must be
        ints)."""
        if self._update_order is None:
            order = np.lexsort((np.asarray(self.keys, dtype=np.int64), self.updated_ms))
            self._update_order = (order, self.updated_ms[order])
        order, stamps = self._update_order
        lo = 0 if since_ms is None else int(np.searchsorted(stamps, since_ms, "left"))
        hi = len(order) if until_ms is None else int(np.searchsorted(stamps, until_ms, "left"))
        return order[lo : max(lo, hi)]

    def variant(
        self, name: str, build: Callable[[RecordTable], tuple[list[bytes], list[bytes] | None]]
    ) -> tuple[list[bytes], list[bytes] | None]:
        """Blobs (and details) as some other view serves them, e.g. with hostile oddities; built
        once."""
        if name not in self._variants:
            self._variants[name] = build(self)
        return self._variants[name]


class _AfterEverything:
    """Sorts after any value, so `(group, _AFTER_EVERYTHING)` bounds a group of tuple keys."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True


_AFTER_EVERYTHING = _AfterEverything()
