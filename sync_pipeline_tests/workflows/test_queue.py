"""The queue's rules without a worker: priority order, backoff and what an attempt settles to,
the trigger cache's TTL fallback, `sync-pipeline workflows replay` and the worker command's
refusals (exit code 2)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import timedelta

import psycopg
import pytest

from sync_pipeline.cli import main
from sync_pipeline.workflows import queue
from sync_pipeline.workflows.delivery import Attempt, Backoff, settlement_for
from sync_pipeline.workflows.dispatcher import dispatch_pending
from sync_pipeline.workflows.queue import Job
from sync_pipeline.workflows.trigger_cache import TriggerCache
from sync_pipeline_tests.workflows.helpers import (
    add_contact,
    add_trigger,
    enqueue_stage_changes,
    executions,
    set_stage,
    statuses,
)

URL = "http://127.0.0.1:9/hook"


def test_claims_take_the_highest_priority_first_and_nothing_not_yet_due(db, db_url):
    for priority in (10, 1, 5):
        add_trigger(db, "ws1", "stage", f"{URL}/p{priority}", priority=priority)
    for contact in (add_contact(db, "ws1"), add_contact(db, "ws1")):
        set_stage(db, contact, "opportunity")
    asyncio.run(dispatch(db_url.conninfo()))
    deferred = db.execute(
        "UPDATE workflow_executions SET scheduled_at = now() + interval '1 hour' "
        "WHERE id = (SELECT max(id) FROM workflow_executions WHERE priority = 1) RETURNING id"
    ).fetchone()[0]

    async def claim_rounds() -> list[list[Job]]:
        async with await psycopg.AsyncConnection.connect(db_url.conninfo(), autocommit=True) as c:
            lease = timedelta(seconds=30)
            return [await queue.claim(c, "w", limit, lease) for limit in (3, 10)]

    first, second = asyncio.run(claim_rounds())
    assert [job.priority for job in first] == [1, 5, 5]
    assert [job.priority for job in second] == [10, 10]
    assert deferred not in {job.id for job in first + second}
    assert statuses(db) == {"processing": 5, "queued": 1}


async def dispatch(conninfo: str) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await dispatch_pending(conn, 100)


def test_backoff_doubles_up_to_its_cap_with_jitter_and_never_undercuts_retry_after():
    backoff = Backoff(base_s=1.0, cap_s=16.0)
    for failed, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 16.0)):
        delays = [backoff.delay_s(failed) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (failed, min(delays), max(delays))
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not one fixed delay
    assert all(backoff.delay_s(1, retry_after_s=30.0) >= 30.0 for _ in range(50))
    with pytest.raises(ValueError):
        Backoff(base_s=0.0)


def test_an_attempt_settles_to_completed_retried_or_dead():
    def job(attempts: int) -> Job:
        return Job(7, uuid.uuid4(), 1, 5, {}, attempts, max_attempts=3)

    backoff = Backoff(base_s=1.0, cap_s=60.0)
    ok = settlement_for(job(1), Attempt(204, None, None, 0.01), backoff)
    throttled = settlement_for(job(1), Attempt(429, "HTTP 429", 40.0, 0.01), backoff)
    timed_out = settlement_for(job(2), Attempt(None, "timeout: TimeoutError", None, 1.0), backoff)
    exhausted = settlement_for(job(3), Attempt(503, "HTTP 503", None, 0.01), backoff)
    assert (ok.status, ok.status_code) == ("completed", 204)
    assert throttled.status == "failed" and throttled.delay_s >= 40.0
    assert timed_out.status == "failed" and 1.0 <= timed_out.delay_s <= 2.0
    assert (exhausted.status, exhausted.status_code) == ("dead", 503)
    reasons = [
        Attempt(*a, 0.0).reason
        for a in ((None, "timeout: x", None), (None, "ClientOSError", None), (429, "", 1.0))
    ]
    assert reasons == ["timeout", "transport", "http_429"]


def test_trigger_cache_reloads_after_its_ttl_without_a_notification(db, db_url):
    trigger = add_trigger(db, "ws1", "stage", f"{URL}/old")
    now = [100.0]

    async def lookups() -> list[str]:
        async with await psycopg.AsyncConnection.connect(db_url.conninfo(), autocommit=True) as c:
            cache = TriggerCache(c, ttl_s=30.0, clock=lambda: now[0])
            seen = [(await cache.get(trigger)).webhook_url]
            db.execute(
                "UPDATE triggers SET webhook_url = %s WHERE id = %s", (f"{URL}/new", trigger)
            )
            now[0] += 29.0
            seen.append((await cache.get(trigger)).webhook_url)  # within the TTL: cached
            now[0] += 2.0
            seen.append((await cache.get(trigger)).webhook_url)  # past it: reloaded
            db.execute("UPDATE triggers SET active = false WHERE id = %s", (trigger,))
            cache.invalidate()  # what a workflow_triggers notification does
            seen.append(str((await cache.get(trigger)).active))
            created = add_trigger(db, "ws2", "stage", f"{URL}/created")
            seen.append((await cache.get(created)).webhook_url)  # unknown id: reloaded at once
            return seen

    assert asyncio.run(lookups()) == [
        f"{URL}/old",
        f"{URL}/old",
        f"{URL}/new",
        "False",
        f"{URL}/created",
    ]


def test_replay_command_requeues_the_chosen_dead_letters(db, db_url, monkeypatch, capsys):
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    first = enqueue_stage_changes(db, db_url.conninfo(), "ws1", URL, 3, max_attempts=2)
    second = enqueue_stage_changes(db, db_url.conninfo(), "ws2", URL, 2, max_attempts=2)
    db.execute(
        "UPDATE workflow_executions SET status = 'dead', attempts = 2, last_error = 'HTTP 500'"
    )
    before = {e["id"]: e["delivery_id"] for e in executions(db)}
    one_of_second = max(e["id"] for e in executions(db) if e["trigger_id"] == second)

    assert main(["workflows", "replay", "--trigger", str(first)]) == 0
    assert "requeued 3 dead letter(s)" in capsys.readouterr().out
    assert main(["workflows", "replay", "--id", str(one_of_second)]) == 0
    assert "requeued 1 dead letter(s)" in capsys.readouterr().out
    assert main(["workflows", "replay", "--id", str(one_of_second)]) == 0  # no longer dead
    assert "requeued 0 dead letter(s)" in capsys.readouterr().out

    after = executions(db)
    requeued = {e["id"] for e in after if e["status"] == "queued"}
    assert requeued == {e["id"] for e in after if e["trigger_id"] == first} | {one_of_second}
    assert all(e["attempts"] == 0 for e in after if e["id"] in requeued)
    assert statuses(db) == {"queued": 4, "dead": 1}
    assert {e["id"]: e["delivery_id"] for e in after} == before  # same Idempotency-Key


def test_worker_command_refuses_bad_settings_and_a_busy_metrics_port(db_url, monkeypatch, capsys):
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    assert main(["workflows", "worker", "--concurrency", "0"]) == 2
    assert "concurrency" in capsys.readouterr().err
    assert main(["workflows", "worker", "--lease-seconds", "5", "--timeout-seconds", "10"]) == 2
    assert "lease_s must exceed" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["workflows", "worker", "--metrics-port", str(port)]) == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in capsys.readouterr().err


def test_pruning_completed_executions_goes_batch_by_batch(db, db_url):
    enqueue_stage_changes(db, db_url.conninfo(), "ws1", URL, 5)
    db.execute(
        "UPDATE workflow_executions SET status = 'completed', completed_at = now() - interval "
        "'2 days' WHERE id IN (SELECT id FROM workflow_executions ORDER BY id LIMIT 3)"
    )
    assert queue.prune_completed(db, timedelta(days=1), batch=2) == 3
    assert queue.prune_completed(db, timedelta(days=1), batch=2) == 0
    assert statuses(db) == {"queued": 2}
