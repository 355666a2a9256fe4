"""Every source's sync step sorts its failures the same way: transient ones reach the step's
RetryPolicy, a busy scope asks to be retried later, anything else fails without a retry."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from sync_pipeline import registry
from sync_pipeline.definitions import defs
from sync_pipeline.defs.step_failures import SCOPE_BUSY_RETRIES, STEP_RETRY, run_step
from sync_pipeline.engine.http import CircuitOpen, ErrorClass, RetryBudgetExhausted
from sync_pipeline.engine.scope_lock import ScopeBusy


async def failing(error: Exception) -> None:
    raise error


@pytest.mark.parametrize(
    "error",
    [
        RetryBudgetExhausted("GET", "/cars", 8, 12.0, ErrorClass.SERVER_ERROR, "503"),
        CircuitOpen("cars", 5.0),
        psycopg.OperationalError("connection lost"),
        psycopg.errors.DeadlockDetected("deadlock detected"),
    ],
)
def test_a_transient_failure_reaches_the_retry_policy_as_it_is(error):
    with pytest.raises(type(error)):
        run_step(failing(error))


def test_a_transient_failure_inside_a_task_group_is_retried_too():
    async def group() -> None:
        raise ExceptionGroup("tasks", [psycopg.OperationalError("connection lost")])

    with pytest.raises(ExceptionGroup):
        run_step(group())


def test_a_busy_scope_asks_to_be_retried_later():
    with pytest.raises(dg.RetryRequested) as request:
        run_step(failing(ScopeBusy("pipeline 'cars', partition 'full' is being written")))
    assert request.value.max_retries == SCOPE_BUSY_RETRIES
    assert request.value.seconds_to_wait > 0


@pytest.mark.parametrize("error", [KeyError("rank"), ValueError("spec and table differ")])
def test_any_other_failure_is_not_retried(error):
    with pytest.raises(dg.Failure) as failure:
        run_step(lambda: (_ for _ in ()).throw(error))
    assert failure.value.allow_retries is False
    assert type(error).__name__ in failure.value.description


def test_retry_policy_backs_off_exponentially_with_jitter():
    assert STEP_RETRY.max_retries >= 2
    assert STEP_RETRY.backoff == dg.Backoff.EXPONENTIAL
    assert STEP_RETRY.jitter is not None


@pytest.mark.parametrize("source", registry.SOURCES, ids=lambda s: s.name)
def test_every_source_step_has_the_retry_policy(source):
    graph = defs.resolve_asset_graph()
    steps = {
        graph.get(key).assets_def
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name == source.name
    }
    assert steps
    for assets_def in steps:
        policy = assets_def.node_def.retry_policy
        assert policy == STEP_RETRY, f"{assets_def.node_def.name} has retry policy {policy}"


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), dg.DagsterExecutionInterruptedError()])
def test_an_interrupt_stops_the_step_without_a_retry(interrupt):
    """Dagster retries an interrupted step that has a RetryPolicy; Ctrl-C must stop it."""

    async def interrupted() -> None:
        raise interrupt

    with pytest.raises(dg.Failure) as failure:
        run_step(interrupted())
    assert failure.value.allow_retries is False
    assert failure.value.__cause__ is interrupt
