"""`InFlightBatches`: batches written on worker threads, at most N at once, committed in order.

Each batch runs its whole transaction on a worker and, just before committing, waits for the
batch submitted before it; so batches commit in submission order and a checkpoint advanced in
each of them only ever moves forward. A batch that would write a key still being written by an
earlier in-flight batch is not submitted until that one is done, so no two batches of a run
ever wait for each other's row locks. Waiting for the previous batch is bounded
(`wait_timeout_s`): a batch of another run holding a row the previous batch needs can itself be
waiting on its own previous batch, a cycle through Python that PostgreSQL cannot break.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

Result = TypeVar("Result")


class BatchAborted(RuntimeError):
    """A batch was rolled back because a batch before it failed."""


class BatchWaitTimeout(RuntimeError):
    """A batch waited too long for the batch before it to commit; it was rolled back."""


class InFlightBatches:
    """Submit batch work, collect results in order; not thread-safe (one submitting thread)."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        limit: int,
        on_result: Callable[[Result], None],
        wait_timeout_s: float | None = None,
    ) -> None:
        self._executor = executor
        self._wait_timeout_s = wait_timeout_s
        self._limit = limit
        self._on_result = on_result
        self._pending: deque[tuple[Future, set]] = deque()
        self._last: Future | None = None

    def submit(self, keys: set[Hashable], work: Callable[[Callable[[], None]], Result]) -> None:
        """Run `work(wait_for_previous)` on a worker once there is room and no key overlap.

        `work` must call `wait_for_previous()` inside its transaction, just before committing;
        it raises `BatchAborted` when the previous batch failed and `BatchWaitTimeout` when it
        did not end within `wait_timeout_s`. Raises the error of an earlier
        batch collected while making room.
        """
        while self._pending and (
            len(self._pending) >= self._limit
            or any(not keys.isdisjoint(k) for _, k in self._pending)
        ):
            self._collect_oldest()
        previous = self._last
        future = self._executor.submit(work, lambda: _wait_for(previous, self._wait_timeout_s))
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
            except BaseException as exc:  # noqa: BLE001 - every batch is waited for, then re-raised
                first_error = first_error or exc
        if first_error is not None and raise_errors:
            raise first_error

    def _collect_oldest(self) -> None:
        future, _ = self._pending.popleft()
        self._on_result(future.result())


def _wait_for(previous: Future | None, timeout_s: float | None) -> None:
    if previous is None:
        return
    try:
        error = previous.exception(timeout=timeout_s)
    except FutureTimeout:
        raise BatchWaitTimeout(
            f"a batch waited more than {timeout_s:g} s for the batch before it to commit "
            "(is another run writing the same rows?); rolled back"
        ) from None
    if error is not None:
        raise BatchAborted("an earlier batch of this run failed") from error
