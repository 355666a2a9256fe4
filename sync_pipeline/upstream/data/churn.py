"""`/_admin/churn`: keep deleting, inserting and updating records for a while, in the background.

Real APIs change while a client walks a listing; this replays that on purpose. Every `TICK_S`
the records due by then at the asked rates are changed through `mutate` (inserts get ids above
any issued, like every insert here), on the server's event loop, so a page is always served
from one consistent state. The ids changed so far are kept per kind for `GET /_admin/churn`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sync_pipeline.errors import ConfigError
from sync_pipeline.upstream.data.dataset import Dataset
from sync_pipeline.upstream.data.mutate import TABLE_KINDS, MutationRequest, mutate

TICK_S = 0.05
KINDS = ("delete", "insert", "update")
_ANSWER_KEYS = {"delete": "deleted", "insert": "inserted", "update": "updated"}


@dataclass
class Churn:
    """One churn spell: its rates, progress and the exact ids it changed per kind."""

    source: str
    seconds: float
    per_second: dict[str, float]
    started: float = field(default_factory=time.monotonic)
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    changed: dict[str, list[Any]] = field(
        default_factory=lambda: {k: [] for k in _ANSWER_KEYS.values()}
    )
    task: asyncio.Task | None = None

    @classmethod
    def checked(cls, source: str, seconds: float, per_second: dict[str, float]) -> Churn:
        """Raises `ConfigError` for an unknown source or kind, or a negative rate or duration."""
        if source not in TABLE_KINDS:
            raise ConfigError(f"churn works on {', '.join(TABLE_KINDS)}; got {source!r}")
        unknown = set(per_second) - set(KINDS)
        if unknown:
            raise ConfigError(
                f"per_second takes {', '.join(KINDS)}; got {', '.join(sorted(unknown))}"
            )
        if seconds <= 0 or any(rate < 0 for rate in per_second.values()):
            raise ConfigError("seconds must be positive and rates not negative")
        return cls(source, seconds, {kind: float(per_second.get(kind, 0)) for kind in KINDS})

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, dataset: Callable[[], Dataset], clock: Any) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(dataset, clock))

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _run(self, dataset: Callable[[], Dataset], clock: Any) -> None:
        while True:
            elapsed = min(time.monotonic() - self.started, self.seconds)
            self.step(dataset(), clock, elapsed)
            if elapsed >= self.seconds:
                return
            await asyncio.sleep(TICK_S)

    def step(self, dataset: Dataset, clock: Any, elapsed: float) -> None:
        """Apply the changes due after `elapsed` seconds that earlier steps did not make."""
        due = {kind: int(self.per_second[kind] * elapsed) - self.done[kind] for kind in KINDS}
        table_size = len(getattr(dataset, TABLE_KINDS[self.source].table))
        due["delete"] = min(due["delete"], table_size)
        due["update"] = min(due["update"], table_size - due["delete"])
        if not any(due.values()) or table_size == 0:
            return
        request = MutationRequest(
            self.source,
            update=due["update"] / table_size,
            delete=due["delete"] / table_size,
            insert=due["insert"],
        )
        answer = mutate(dataset, request, clock)
        for kind in KINDS:
            ids = answer[_ANSWER_KEYS[kind]]
            self.changed[_ANSWER_KEYS[kind]].extend(ids)
            self.done[kind] += len(ids)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "seconds": self.seconds,
            "per_second": self.per_second,
            "running": self.running,
            "elapsed_s": round(min(time.monotonic() - self.started, self.seconds), 3),
            **self.changed,
        }
