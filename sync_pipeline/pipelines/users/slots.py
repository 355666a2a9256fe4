"""Detail-limit slots taken one at a time, so a fresh change never queues behind the backfill.

    with gated(client, wait_turn=fresh_first.wait_turn, marks=marks):
        ...   # every request of `client` now takes its slot through the gate

A worker's requests (up to `concurrency` in flight) would each claim a slot of the shared detail
bucket as soon as they start waiting: 32 requests at 1 per 4 s hold two minutes of slots that
nobody else can have. Through `SlotGate` only one request per worker waits for a slot at a time;
the others wait in the gate, holding nothing, so a request of another worker gets the next slot
but one. Before that one waiter claims its slot it may be held back (`wait_turn`: the backfill
yields to fresh changes), and once it has its slot the request's id is marked as sent
(`SentMarks`: `users_pending_changes.sent_at`), which is what the backfill watches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient
from sync_pipeline.engine.http.token_bucket import RateLimiter

SLOT_TAKEN: ContextVar[Callable[[], None] | None] = ContextVar("users_slot_taken", default=None)
"""Called (in the requesting task's context) when a request of that task gets its slot."""

_HAD_SLOT: ContextVar[bool] = ContextVar("users_had_slot", default=False)
"""Set in a request's task once it got a slot: a later `acquire` in that task is a retry."""

# Locks its rows in id order, as a batch being stored does (`write._LOCK_PENDING`).
_MARK_SENT = (
    "UPDATE users_pending_changes SET sent_at = now() WHERE id IN ("
    "SELECT id FROM users_pending_changes WHERE id = ANY(%s::bigint[]) AND sent_at IS NULL "
    "ORDER BY id FOR UPDATE)"
)


class SlotGate:
    """A `RateLimiter` around another: one waiter at a time, an optional turn to wait for first."""

    def __init__(
        self, inner: RateLimiter, wait_turn: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.inner = inner
        self._wait_turn = wait_turn
        self._one_waiter = asyncio.Lock()

    async def acquire(self) -> None:
        if _HAD_SLOT.get():
            await self._retry_slot()
            return
        async with self._one_waiter:
            if self._wait_turn is not None:
                await self._wait_turn()
            await self.inner.acquire()
        _HAD_SLOT.set(True)
        taken = SLOT_TAKEN.get()
        if taken is not None:
            taken()

    async def _retry_slot(self) -> None:
        """A retry of a request that already had a slot does not queue again behind every
        request of its run (at 1 per 4 s that is minutes, past the request's time budget): it
        claims the next slot beside the one waiter."""
        if self._wait_turn is not None:
            await self._wait_turn()
        await self.inner.acquire()

    async def throttle(self, pause_s: float) -> None:
        await self.inner.throttle(pause_s)

    def current_rps(self) -> float | None:
        return self.inner.current_rps()

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextmanager
def gated(
    client: ApiClient, wait_turn: Callable[[], Awaitable[None]] | None = None
) -> Iterator[SlotGate]:
    """Route `client`'s requests through a `SlotGate` while the block runs."""
    original = client.limiter
    gate = SlotGate(original, wait_turn)
    client.limiter = gate
    try:
        yield gate
    finally:
        client.limiter = original


class SentMarks:
    """Stamps `sent_at` on the pending rows of ids whose request got its slot, in the background
    (one UPDATE per burst of ids, a few ms after the slot); `aclose` waits for the last one."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self._ids: list[int] = []
        self._task: asyncio.Task | None = None

    def mark(self, user_id: int) -> None:
        self._ids.append(user_id)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        while self._ids:
            ids, self._ids = self._ids, []
            await asyncio.to_thread(self._write, ids)

    def _write(self, ids: list[int]) -> None:
        with self.pool.connection() as conn:
            conn.execute(_MARK_SENT, (ids,))

    async def aclose(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
