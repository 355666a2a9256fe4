"""Building list bodies from stored blobs: page-number pages and cursor pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from sync_pipeline.upstream.data.table import RecordTable


class PageShift(Protocol):
    def first_to_serve(self, start: int, available: int) -> int: ...


def pick(blobs: Sequence[bytes], positions: np.ndarray | range) -> list[bytes]:
    if isinstance(positions, range):
        return list(blobs[positions.start : positions.stop])
    return [blobs[p] for p in positions.tolist()]


def numbered_page(
    blobs: Sequence[bytes], positions: np.ndarray | range, page: int, size: int, shift: PageShift
) -> list[bytes]:
    """Page `page` (from 1) of `positions` (a shifted page starts one record early)."""
    start = (page - 1) * size
    first = shift.first_to_serve(start, len(positions))
    return pick(blobs, positions[first : start + size])


def cursor_page(
    table: RecordTable,
    blobs: Sequence[bytes],
    lo: int,
    hi: int,
    after: Any | None,
    limit: int,
    shift: PageShift,
    positions: np.ndarray | None = None,
) -> tuple[list[bytes], Any | None]:
    """Records after key `after` among [lo, hi) (or among `positions` inside it), and the last
    key served when more follow (the next cursor), else None."""
    start = lo if after is None else table.first_after(after, lo, hi)
    candidates: np.ndarray | range = (
        range(lo, hi)
        if positions is None
        else positions[np.searchsorted(positions, lo) : np.searchsorted(positions, hi)]
    )
    index = int(np.searchsorted(candidates, start)) if positions is not None else start - lo
    first = shift.first_to_serve(index, len(candidates))
    chosen = candidates[first : index + limit]
    more = index + limit < len(candidates)
    last_key = table.keys[chosen[-1]] if more and len(chosen) else None
    return pick(blobs, chosen), last_key


def join(items: list[bytes]) -> bytes:
    return b",".join(items)
