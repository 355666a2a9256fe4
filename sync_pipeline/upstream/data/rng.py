"""Random streams for the generators: one independent stream per (seed, purpose).

Each kind of record draws from its own stream, so the cars of seed 7 do not depend on how many
users were asked for. Streams are numpy PCG64 generators: same seed, same numbers, same bytes.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng(
        [seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, zlib.crc32(purpose.encode())]
    )


def pick(
    rng: np.random.Generator, options: tuple, count: int, weights: tuple[float, ...] | None = None
) -> np.ndarray:
    """Indexes into `options`, optionally weighted (weights need not sum to 1)."""
    if weights is None:
        return rng.integers(0, len(options), count)
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(options), size=count, p=p / p.sum())


def spread_ms(
    rng: np.random.Generator, low: np.ndarray | int, high: np.ndarray | int, count: int
) -> np.ndarray:
    """Uniform integer milliseconds in [low, high) (elementwise when arrays are given)."""
    low_arr = np.broadcast_to(np.asarray(low, dtype=np.int64), (count,))
    span = np.maximum(np.broadcast_to(np.asarray(high, dtype=np.int64), (count,)) - low_arr, 1)
    return low_arr + (rng.random(count) * span).astype(np.int64)


def increasing_ids(
    rng: np.random.Generator, first: int, count: int, max_gap: int = 3
) -> np.ndarray:
    """Sorted unique ids with small random gaps, as a long-lived table's ids look."""
    return first + np.cumsum(rng.integers(1, max_gap + 1, count), dtype=np.int64)
