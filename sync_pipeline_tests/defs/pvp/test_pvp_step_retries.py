"""The pvp steps' RetryPolicy applies to transient failures only."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from sync_pipeline.definitions import defs
from sync_pipeline.defs.pvp.assets import run_step
from sync_pipeline.engine.http import ErrorClass, RetryBudgetExhausted
from sync_pipeline.engine.transactions import TransactionRetry
from sync_pipeline_tests.defs.pvp.test_pvp_definitions import SIZES


async def failing(error: Exception) -> None:
    raise error


@pytest.mark.parametrize(
    "error",
    [
        RetryBudgetExhausted(
            "GET", "/pvp/eu/leaderboards/3v3", 8, 12.0, ErrorClass.SERVER_ERROR, "503"
        ),
        psycopg.errors.DeadlockDetected("deadlock detected"),
    ],
)
def test_a_transient_failure_reaches_the_retry_policy_as_it_is(error):
    with pytest.raises(type(error)):
        run_step(failing(error))


def test_any_other_failure_is_not_retried():
    with pytest.raises(dg.Failure) as failure:
        run_step(failing(KeyError("rank")))
    assert failure.value.allow_retries is False
    assert "KeyError" in failure.value.description


def test_a_missing_leaderboard_fails_the_run_without_a_retry(monkeypatch, db_url, upstream_factory):
    server = upstream_factory(sizes=SIZES)
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    monkeypatch.setenv("SYNC_PVP_API_URL", f"{server.url}/no-such-api")
    monkeypatch.delenv("SYNC_PVP_API_TOKEN", raising=False)
    job = defs.resolve_job_def("pvp_sync_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, partition_key="3v3|eu", raise_on_error=False
        )
    events = {event.event_type_value for event in result.all_events}
    assert not result.success and "STEP_FAILURE" in events
    assert not events & {"STEP_UP_FOR_RETRY", "STEP_RESTARTED"}
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "LeaderboardMissing" in failure.step_failure_data.error.message


def test_a_deadlock_that_outlives_its_transaction_retries_is_retried_by_the_step(
    monkeypatch, db_url, db, upstream_factory
):
    # The entries insert is a deadlock victim as often as a transaction is tried (injected with
    # the deadlock's SQLSTATE; a real deadlock's retry is in the pipeline's tests), so the error
    # reaches Dagster, whose RetryPolicy runs the step again, and that time it passes.
    attempts = TransactionRetry().attempts
    db.execute(f"""
        CREATE SEQUENCE deadlocks_left;
        CREATE FUNCTION deadlock_victim() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('deadlocks_left') <= {attempts} THEN
                RAISE EXCEPTION 'deadlock detected (injected)' USING ERRCODE = '40P01';
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER deadlock_victim AFTER INSERT ON pvp_leaderboard_entries
            FOR EACH STATEMENT EXECUTE FUNCTION deadlock_victim();
    """)
    server = upstream_factory(sizes=SIZES)
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    monkeypatch.setenv("SYNC_PVP_API_URL", server.url)
    monkeypatch.delenv("SYNC_PVP_API_TOKEN", raising=False)
    job = defs.resolve_job_def("pvp_sync_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            instance=instance, partition_key="3v3|eu", raise_on_error=False
        )
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert result.success
    assert [e.step_key for e in retried] == ["pvp_leaderboard_sync"]
    assert "DeadlockDetected" in error_classes(retried[0].event_specific_data.error)
    assert db.execute("SELECT nextval('deadlocks_left')").fetchone()[0] == attempts + 2
    assert db.execute("SELECT count(*) FROM pvp_leaderboard_entries").fetchone()[0] == 12


def error_classes(error) -> list[str]:
    """The class names of an error and of its causes and contexts."""
    names = []
    while error is not None:
        names.append(error.cls_name)
        error = error.cause or error.context
    return names
