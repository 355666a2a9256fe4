"""What a worker needs of each trigger at delivery time (webhook URL, active flag), cached.

The whole `triggers` table is small, so the cache holds all of it and reloads all of it: when a
`workflow_triggers` notification says a trigger changed (`invalidate`), when `ttl_s` passed
(the fallback if a notification was missed, e.g. while reconnecting), and once when asked for a
trigger it does not know (created after the last load).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import AsyncConnection

TRIGGERS_CHANNEL = "workflow_triggers"


@dataclass(frozen=True)
class TriggerTarget:
    id: int
    webhook_url: str
    active: bool


class TriggerCache:
    """Trigger targets by id, reloaded on invalidation, after `ttl_s`, or on an unknown id."""

    def __init__(
        self,
        conn: AsyncConnection,
        ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._conn = conn
        self._ttl_s = ttl_s
        self._clock = clock
        self._targets: dict[int, TriggerTarget] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()
        self.loads = 0

    def invalidate(self) -> None:
        self._loaded_at = None

    async def get(self, trigger_id: int) -> TriggerTarget | None:
        """The trigger's target, or None when the trigger does not exist (any more)."""
        async with self._lock:
            if self._stale() or trigger_id not in self._targets:
                await self._load()
            return self._targets.get(trigger_id)

    def _stale(self) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at > self._ttl_s

    async def _load(self) -> None:
        self._loaded_at = self._clock()
        cur = await self._conn.execute("SELECT id, webhook_url, active FROM triggers")
        self._targets = {row[0]: TriggerTarget(*row) for row in await cur.fetchall()}
        self.loads += 1
