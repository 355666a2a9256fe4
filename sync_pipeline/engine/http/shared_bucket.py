"""The rate limiter shared by every process that uses one API key, kept in PostgreSQL.

The bucket is a row of `rate_limits` (sql/001_rate_limits.sql) holding the next free send slot
(GCRA, as `token_bucket.py`). Each request asks the database for its slot with
`CALL rate_limit_acquire(...)` (sql/033_rate_limit_window.sql,
sql/034_rate_limit_late_after_commit.sql, sql/036_rate_limit_ring_in_window.sql): the procedure
claims the next slot, commits, and returns when the database's clock reaches it. Slot times are
never carried over to a process's own clock, so neither query latency nor clock offsets between
hosts can bring two processes' requests closer than one interval.

Evenly spaced slots leave only 20 intervals minus 1 s of slack per window (5 ms at 19.9/s of a
20/s limit), and a request that goes out late by more than that puts one too many into the
window before it, as the upstream counts. So the database also caps the slots of any window
(`window_max` in `WINDOW_S + WINDOW_GUARD_S`), and a request that would go out more than `LATE_S`
after its slot gives the slot up and claims a new one: late in the database (the backend woke
late, or could not get the row back) or late on its way back here (the round trip beyond the
procedure's own time, a duration measured here, no clock reading compared). What is left is the
time from the answer to the request on the wire, which the guard covers.

A 429 seen by any process pauses the row and slows it for everyone (`throttle`); a request of
another process that is waiting for its slot sees the pause when it wakes, before it is sent,
and waits for a slot after the pause. Acquiring takes one round trip per request, held by one
connection per process (requests of a process queue for it); `throttle` has its own connection,
so that a 429 is reported while a request waits for its slot. One round trip per request bounds
the rate a single process can reach by its latency to the database (well above the hundred or
so requests per second of the APIs here).
"""

from __future__ import annotations

import asyncio
import math
import time

import psycopg

from sync_pipeline.engine.http.errors import RateLimiterUnavailable

WINDOW_S = 1.0
# Slack per window beyond the slots' own spacing, for what happens after a request leaves the
# limiter (the client's send, the upstream's own stamping) on a busy machine.
WINDOW_GUARD_S = 0.020
# How late after its slot a request may still go; a later one claims a new slot.
LATE_S = 0.015


class SharedTokenBucket:
    """A `RateLimiter` whose bucket lives in PostgreSQL under `key`, shared across processes.

    `conninfo` is a libpq connection string (see `DatabaseUrl.conninfo()`) of a database
    migrated with sql/036_rate_limit_ring_in_window.sql. Connections are opened on first use and
    closed by `aclose()`. Raises `RateLimiterUnavailable` when the database cannot be reached.
    """

    def __init__(
        self,
        conninfo: str,
        key: str,
        rate: float,
        burst: int = 1,
        rate_factor: float = 0.8,
        slow_for_s: float = 60.0,
        window_max: int | None = None,
        late_s: float = LATE_S,
    ) -> None:
        self.key = key
        self._interval_s = 1.0 / rate
        self._burst = burst
        self.window_max = window_max or max(1, math.ceil(rate - 1e-9) + burst - 1)
        self.window_s = WINDOW_S + WINDOW_GUARD_S
        self.late_s = late_s
        self._rate_factor = rate_factor
        self._slow_for_s = slow_for_s
        self._acquiring = _LimiterConnection(conninfo, key)
        self._throttling = _LimiterConnection(conninfo, key)
        self._last_interval_s = self._interval_s
        self.grants = 0
        self.claims = 0
        self.late_answers = 0

    async def acquire(self) -> None:
        """Return at the next slot of the key, on the database's clock (after any pause), and
        within `late_s` of it: an answer that reached this process later is given up."""
        while True:
            (
                (interval_s, claims, waited_s, late_by_s),
                round_trip_s,
            ) = await self._acquiring.timed_call(
                "CALL rate_limit_acquire(%s, %s, %s, %s, %s, %s, NULL, NULL, NULL, NULL)",
                (
                    self.key,
                    self._interval_s,
                    self._burst,
                    self.window_max,
                    self.window_s,
                    self.late_s,
                ),
            )
            self._last_interval_s = interval_s
            self.claims += claims
            # Durations only: the round trip beyond the procedure's own time bounds how late the
            # answer reached this process (the way there counts too, so this errs on the safe side).
            if late_by_s + round_trip_s - waited_s <= self.late_s:
                break
            self.late_answers += 1
        self.grants += 1

    async def throttle(self, pause_s: float) -> None:
        """Pause every process on this key for `pause_s` and lower the shared rate for a while."""
        await self._throttling.call(
            "SELECT rate_limit_throttle(%s, %s, %s, %s)",
            (self.key, pause_s, self._rate_factor, self._slow_for_s),
        )

    def current_rps(self) -> float | None:
        return 1.0 / self._last_interval_s

    async def aclose(self) -> None:
        await self._acquiring.aclose()
        await self._throttling.aclose()


class _LimiterConnection:
    """One autocommit connection, used by one statement at a time, reconnected once if lost."""

    def __init__(self, conninfo: str, key: str) -> None:
        self._conninfo = conninfo
        self._key = key
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def call(self, query: str, params: tuple) -> tuple:
        """Run one statement and return its row; raises `RateLimiterUnavailable`."""
        row, _ = await self.timed_call(query, params)
        return row

    async def timed_call(self, query: str, params: tuple) -> tuple[tuple, float]:
        """`call`, also returning the seconds from sending the statement to having its row (the
        wait for the connection left out)."""
        async with self._lock:
            started = time.monotonic()
            row = await self._call_unlocked(query, params)
            return row, time.monotonic() - started

    async def _call_unlocked(self, query: str, params: tuple) -> tuple:
        """Run one statement, reconnecting once if the connection was lost."""
        try:
            return await self._execute(query, params)
        except psycopg.OperationalError:
            await self.aclose()
        try:
            return await self._execute(query, params)
        except psycopg.OperationalError as exc:
            await self.aclose()
            text = str(exc).strip()
            reason = text.splitlines()[-1] if text else type(exc).__name__
            raise RateLimiterUnavailable(
                f"shared rate limiter {self._key!r} cannot reach PostgreSQL: {reason}"
            ) from None

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def _execute(self, query: str, params: tuple) -> tuple:
        if self._conn is None:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=5,
                application_name="sync_pipeline_limiter",
            )
            # A claim's COMMIT need not wait for the WAL flush: a slot lost in a server crash
            # costs nothing (the clients stop with the server), a flush delay costs a late slot.
            await conn.execute("SET synchronous_commit = off")
            self._conn = conn
        cursor = await self._conn.execute(query, params)
        return await cursor.fetchone()
