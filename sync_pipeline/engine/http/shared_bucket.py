"""The rate limiter shared by every process that uses one API key, kept in PostgreSQL.

The bucket is a row of `rate_limits` (sql/001_rate_limits.sql) holding the next free send slot.
A process claims a few consecutive slots per database round trip (about `lease_s` worth) with
`rate_limit_claim`, then sends one request per slot, sleeping until each slot's time. Because
claimed slots never overlap, the requests of all processes together keep the bucket's spacing:
a lease is a set of time slots, never a pile of tokens to spend at once. Slot times come back
as "seconds from the database's now" and are placed on this process's monotonic clock at the
moment the query was sent, so clocks of different hosts need not agree.

Slots a process leased but did not use in time are dropped, not sent late (sending them late
would bunch requests together). A 429 seen by any process pauses and slows the row for all;
the others notice at their next lease, after at most their look-ahead (the slots they hold).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import psycopg

from sync_pipeline.engine.http.errors import RateLimiterUnavailable

LATE_GRACE_S = 0.002
MAX_LEASE = 200


class SharedTokenBucket:
    """A `RateLimiter` whose bucket lives in PostgreSQL under `key`, shared across processes.

    `conninfo` is a libpq connection string (see `DatabaseUrl.conninfo()`) of a database
    migrated with sql/001_rate_limits.sql. One connection is opened on first use and closed by
    `aclose()`. Raises `RateLimiterUnavailable` when the database cannot be reached.
    """

    def __init__(self, conninfo: str, key: str, rate: float, burst: int = 1, rate_factor: float = 0.8,
                 slow_for_s: float = 60.0, lease_s: float = 0.25) -> None:
        self._conninfo = conninfo
        self.key = key
        self._interval_s = 1.0 / rate
        self._burst = burst
        self._rate_factor = rate_factor
        self._slow_for_s = slow_for_s
        self._lease_count = max(1, min(MAX_LEASE, round(rate * lease_s)))
        self._slots: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._conn: psycopg.AsyncConnection | None = None
        self._paused_until = 0.0
        self._last_interval_s = self._interval_s
        self.leases = 0

    async def acquire(self) -> None:
        while True:
            slot = await self._next_slot()
            delay = slot - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() >= self._paused_until:
                return

    async def _next_slot(self) -> float:
        async with self._lock:
            while True:
                if not self._slots:
                    await self._lease()
                slot = self._slots.popleft()
                if slot >= time.monotonic() - LATE_GRACE_S:
                    return slot

    async def _lease(self) -> None:
        (first_in_s, interval_s), sent = await self._call("SELECT * FROM rate_limit_claim(%s, %s, %s, %s)",
                                                          (self.key, self._interval_s, self._burst, self._lease_count))
        arrived = time.monotonic()
        # The database read its clock moments after `sent` (the query leaves synchronously); the
        # answer may sit unread while this event loop is busy, so `arrived` would shift the slots.
        first = sent + max(first_in_s, -(self._burst - 1) * interval_s)
        self._slots.extend(max(first + i * interval_s, arrived) for i in range(self._lease_count))
        self._last_interval_s = interval_s
        self.leases += 1

    async def throttle(self, pause_s: float) -> None:
        """Pause every process on this key for `pause_s` and lower the shared rate for a while."""
        self._paused_until = max(self._paused_until, time.monotonic() + pause_s)
        async with self._lock:
            self._slots.clear()
            await self._call("SELECT rate_limit_throttle(%s, %s, %s, %s)",
                             (self.key, pause_s, self._rate_factor, self._slow_for_s))

    def current_rps(self) -> float | None:
        return 1.0 / self._last_interval_s

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _call(self, query: str, params: tuple) -> tuple[tuple, float]:
        """Run one statement; returns its row and the monotonic time the query left.

        Reconnects once if the connection was lost, then raises `RateLimiterUnavailable`.
        """
        try:
            return await self._execute(query, params)
        except psycopg.OperationalError:
            await self.aclose()
        try:
            return await self._execute(query, params)
        except psycopg.OperationalError as exc:
            await self.aclose()
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise RateLimiterUnavailable(f"shared rate limiter {self.key!r} cannot reach PostgreSQL: {reason}") from None

    async def _execute(self, query: str, params: tuple) -> tuple[tuple, float]:
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=5, application_name="sync_pipeline_limiter")
        sent = time.monotonic()
        cursor = await self._conn.execute(query, params)
        return await cursor.fetchone(), sent
