"""Which failures of a sync step are retried, and how; every source's step runs through here.

- Transient (`TRANSIENT_ERRORS`: the HTTP retry budget spent, the circuit breaker open, the
  shared rate limiter or the database out of reach, a deadlock that outlived its transaction's
  own retries) reach the step's `STEP_RETRY` as they are: retried with exponential backoff and
  jitter, so that runs failing together do not come back together.
- A busy scope (`ScopeBusy`: another run writes the same pipeline and partition) asks to be
  retried later (`dg.RetryRequested`), after that run has had time to end.
- Anything else (a bad configuration, a 4xx the API means, a spec that does not match its
  table, a bug) is a `dg.Failure` that no retry policy retries.
- An interrupt (Ctrl-C on `sync`, a run terminated from the UI) stops the step: Dagster would
  retry it under a `RetryPolicy`, so it becomes a `dg.Failure` that is not retried either.

A failed blocking check is never retried: Dagster raises it after the step's body has returned,
outside the code a `RetryPolicy` watches, so it fails the step once, as a verdict on the data.
Run-level retries (`run_retries` in dagster.yaml) are for a crashed run worker only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import dagster as dg
import psycopg
from dagster import DagsterExecutionInterruptedError

from sync_pipeline.engine.http import CircuitOpen, RateLimiterUnavailable, RetryBudgetExhausted
from sync_pipeline.engine.scope_lock import ScopeBusy

T = TypeVar("T")

# psycopg.OperationalError covers a lost connection and the deadlock / serialization failures
# (TransactionRollback) that `in_transaction` gave up on.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RetryBudgetExhausted,
    CircuitOpen,
    RateLimiterUnavailable,
    psycopg.OperationalError,
)
STEP_RETRY_MAX = 3
STEP_RETRY_DELAY_S = 5
STEP_RETRY = dg.RetryPolicy(
    max_retries=STEP_RETRY_MAX,
    delay=STEP_RETRY_DELAY_S,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)
SCOPE_BUSY_RETRIES = 10
SCOPE_BUSY_WAIT_S = 60


def run_step(work: Coroutine[Any, Any, T] | Callable[[], T]) -> T:
    """`work` (a coroutine, or a function) run to its end, its failure sorted as above."""
    try:
        return asyncio.run(work) if asyncio.iscoroutine(work) else work()
    except (KeyboardInterrupt, DagsterExecutionInterruptedError) as interrupt:
        raise dg.Failure(description="interrupted: not retried", allow_retries=False) from interrupt
    except Exception as exc:
        cause = _first_leaf(exc) if isinstance(exc, ExceptionGroup) else exc
        failure = sorted_failure(cause)
        if failure is cause:
            raise
        raise failure from exc


def sorted_failure(exc: BaseException) -> BaseException:
    """What the step raises for `exc`: the transient error itself, a `RetryRequested` for a
    busy scope, else a `dg.Failure` that is not retried."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return exc
    if isinstance(exc, ScopeBusy):
        return dg.RetryRequested(max_retries=SCOPE_BUSY_RETRIES, seconds_to_wait=SCOPE_BUSY_WAIT_S)
    return dg.Failure(
        description=f"{type(exc).__name__}: {exc} (not transient: not retried)",
        allow_retries=False,
    )


def _first_leaf(group: ExceptionGroup) -> Exception:
    """The first exception inside (nested) groups: a task group's first failure."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, ExceptionGroup) else first
