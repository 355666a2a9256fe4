"""`InFlightBatches`: batches written on worker threads, at most N at once, committed in order.

Each batch runs its whole transaction on a worker and, just before committing, waits for the
batch submitted before it; so batches commit in submission order and a checkpoint advanced in
each of them only ever moves forward. A batch that would write a key still being written by an
earlier in-flight batch is not submitted until that one is done, so no two batches of a run
ever wait for each other's row locks.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Hashable, TypeVar

Result = TypeVar("Result")


class BatchAborted(RuntimeError):
    """A batch was rolled back because a batch before it failed."""


class InFlightBatches:
    """Submit batch work, collect results in order; not thread-safe (one submitting thread)."""

    def __init__(self, executor: ThreadPoolExecutor, limit: int, on_result: Callable[[Result], None]) -> None:
        self._executor = executor
        self._limit = limit
        self._on_result = on_result
        self._pending: deque[tuple[Future, set]] = deque()
        self._last: Future | None = None

    def submit(self, keys: set[Hashable], work: Callable[[Callable[[], None]], Result]) -> None:
        """Run `work(wait_for_previous)` on a worker once there is room and no key overlap.

        `work` must call `wait_for_previous()` inside its transaction, just before committing;
        it raises `BatchAborted` when the previous batch failed. Raises the error of an earlier
        batch collected while making room.
        """
        while self._pending and (len(self._pending) >= self._limit
                                 or any(not keys.isdisjoint(k) for _, k in self._pending)):
            self._collect_oldest()
        previous = self._last
        future = self._executor.submit(work, lambda: _wait_for(previous))
        self._pending.append((future, keys))
        self._last = future

    def collect_done(self) -> None:
        """Hand the results of the batches already committed to `on_result`, in order."""
        while self._pending and self._pending[0][0].done():
            self._collect_oldest()

    def drain(self, raise_errors: bool = True) -> None:
        """Wait for every batch; raises the first batch error unless told not to."""
        first_error: BaseException | None = None
        while self._pending:
            try:
                self._collect_oldest()
            except BaseException as exc:
                first_error = first_error or exc
        if first_error is not None and raise_errors:
            raise first_error

    def _collect_oldest(self) -> None:
        future, _ = self._pending.popleft()
        self._on_result(future.result())


def _wait_for(previous: Future | None) -> None:
    if previous is not None and previous.exception() is not None:
        raise BatchAborted("an earlier batch of this run failed") from previous.exception()
