"""Workers delivering to a real receiver on loopback: retries, dead letters, replay, trigger
changes without restart, and two workers sharing one queue."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest
from prometheus_client import generate_latest

from sync_pipeline.bench.webhook_receiver import WebhookReceiver
from sync_pipeline.workflows import queue
from sync_pipeline.workflows.delivery import Backoff
from sync_pipeline.workflows.metrics import WorkerMetrics
from sync_pipeline.workflows.worker import APPLICATION_NAME, WorkerSettings, WorkflowWorker
from sync_pipeline_tests.workflows.helpers import (
    add_contact,
    add_trigger,
    enqueue_stage_changes,
    executions,
    set_stage,
    statuses,
)

FAST = WorkerSettings(
    concurrency=8,
    claim_batch=8,
    lease_s=5.0,
    request_timeout_s=2.0,
    poll_s=0.1,
    settle_interval_s=0.005,
    backoff=Backoff(base_s=0.02, cap_s=0.1),
    trigger_ttl_s=600.0,
)


async def run_worker_until(
    conninfo: str, condition, settings: WorkerSettings = FAST, timeout_s: float = 20.0
):
    """Run a worker in this loop until `condition()` (checked on a connection of its own) holds."""
    stop = asyncio.Event()
    worker = WorkflowWorker(conninfo, settings)
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_for(conninfo, condition, timeout_s, task)
    finally:
        stop.set()
        await task
    return worker.stats


async def wait_for(
    conninfo: str, condition, timeout_s: float, task: asyncio.Task | None = None
) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not condition(conn):
            if task is not None and task.done():
                task.result()
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.05)


def all_status(status: str, count: int):
    return lambda conn: statuses(conn) == {status: count}


def test_failing_webhook_goes_to_dead_letters_after_max_attempts_then_replays(db, db_url):
    failing = {"on": True}

    def respond(key, seen):
        return (500, {}, 0.0) if failing["on"] else (200, {}, 0.0)

    with WebhookReceiver(respond) as receiver:
        enqueue_stage_changes(db, db_url.conninfo(), "ws1", receiver.url, 3, max_attempts=3)
        asyncio.run(run_worker_until(db_url.conninfo(), all_status("dead", 3)))
        dead = executions(db)
        assert [(e["attempts"], e["last_status_code"]) for e in dead] == [(3, 500)] * 3
        assert all(e["last_error"].startswith("HTTP 500") for e in dead)
        assert sorted(receiver.snapshot().requests.values()) == [3, 3, 3]

        failing["on"] = False
        with psycopg.connect(db_url.conninfo(), autocommit=True) as conn:
            assert queue.replay_dead(conn) == 3
        asyncio.run(run_worker_until(db_url.conninfo(), all_status("completed", 3)))

    got = receiver.snapshot()
    assert sorted(got.requests.values()) == [4, 4, 4]
    assert set(got.processed) == {str(e["delivery_id"]) for e in dead}
    assert [e["attempts"] for e in executions(db)] == [1, 1, 1]


def test_retry_honours_retry_after(db, db_url):
    with WebhookReceiver(
        lambda key, seen: (429, {"Retry-After": "1"}, 0.0) if seen == 0 else (200, {}, 0.0)
    ) as receiver:
        enqueue_stage_changes(db, db_url.conninfo(), "ws1", receiver.url, 1)
        asyncio.run(run_worker_until(db_url.conninfo(), all_status("completed", 1)))
    (execution,) = executions(db)
    assert execution["attempts"] == 2
    assert execution["completed_at"] - execution["created_at"] >= timedelta(seconds=0.95)


def test_trigger_changes_apply_without_restart(db, db_url):
    conninfo = db_url.conninfo()
    with WebhookReceiver() as first, WebhookReceiver() as second:
        stage_trigger = add_trigger(db, "ws1", "stage", first.url)
        contact = add_contact(db, "ws1")

        async def scenario():
            stop = asyncio.Event()
            worker = asyncio.create_task(WorkflowWorker(conninfo, FAST).run(stop))
            set_stage(db, contact, "opportunity")
            await wait_for(conninfo, lambda c: len(first.snapshot().processed) == 1, 10, worker)
            db.execute(
                "UPDATE triggers SET webhook_url = %s WHERE id = %s", (second.url, stage_trigger)
            )
            owner_trigger = add_trigger(db, "ws1", "owner_id", second.url, to_value=42)
            set_stage(db, contact, "customer")
            db.execute("UPDATE contacts SET owner_id = 42 WHERE id = %s", (contact,))
            await wait_for(conninfo, lambda c: len(second.snapshot().processed) == 2, 10, worker)
            stop.set()
            await worker
            return owner_trigger

        owner_trigger = asyncio.run(scenario())
    assert len(first.snapshot().processed) == 1
    bodies = sorted(
        (body["trigger_id"], body["field"], body["new"])
        for _, _, body in second.snapshot().first.values()
    )
    assert bodies == sorted([(stage_trigger, "stage", "customer"), (owner_trigger, "owner_id", 42)])


def test_two_workers_never_take_the_same_job(db, db_url):
    conninfo = db_url.conninfo()
    with WebhookReceiver() as receiver:
        enqueue_stage_changes(db, conninfo, "ws1", receiver.url, 300)

        async def claim_race():
            async with (
                await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as a,
                await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as b,
            ):
                lease = timedelta(seconds=30)
                rounds = await asyncio.gather(
                    *(
                        queue.claim(c, name, 7, lease)
                        for _ in range(10)
                        for c, name in ((a, "a"), (b, "b"))
                    )
                )
                return [[job.id for job in jobs] for jobs in rounds]

        claimed = [job_id for jobs in asyncio.run(claim_race()) for job_id in jobs]
        assert len(claimed) == len(set(claimed)) == 140
        db.execute(
            "UPDATE workflow_executions SET status = 'queued', attempts = 0, lease_owner = NULL, "
            "lease_expires_at = NULL"
        )

        async def two_workers():
            stop = asyncio.Event()
            workers = [WorkflowWorker(conninfo, FAST, owner=name) for name in ("w1", "w2")]
            tasks = [asyncio.create_task(w.run(stop)) for w in workers]
            await wait_for(conninfo, all_status("completed", 300), 30, tasks[0])
            stop.set()
            return await asyncio.gather(*tasks)

        stats = asyncio.run(two_workers())
    got = receiver.snapshot()
    assert len(got.requests) == 300 and set(got.requests.values()) == {1}
    assert sum(s.claimed for s in stats) == 300 and all(s.claimed > 0 for s in stats)


def test_a_timed_out_attempt_is_retried_and_the_receiver_processes_the_key_once(db, db_url):
    settings = replace(FAST, request_timeout_s=0.3, lease_s=2.0)
    with WebhookReceiver(lambda key, seen: (200, {}, 1.0 if seen == 0 else 0.0)) as receiver:
        enqueue_stage_changes(db, db_url.conninfo(), "ws1", receiver.url, 2)
        stats = asyncio.run(
            run_worker_until(db_url.conninfo(), all_status("completed", 2), settings)
        )
        got = receiver.snapshot()
    assert [e["attempts"] for e in executions(db)] == [2, 2]
    assert sorted(got.requests.values()) == [2, 2] and set(got.processed.values()) == {1}
    assert (stats.retried, stats.delivered) == (2, 2)


def test_graceful_stop_releases_what_did_not_finish_in_the_grace_period(db, db_url):
    conninfo = db_url.conninfo()
    settings = replace(FAST, concurrency=3, claim_batch=3, stop_grace_s=0.2, request_timeout_s=3.0)
    slow = {"on": True}
    with WebhookReceiver(lambda key, seen: (200, {}, 2.0 if slow["on"] else 0.0)) as receiver:
        enqueue_stage_changes(db, conninfo, "ws1", receiver.url, 5)

        async def stop_mid_delivery():
            stop = asyncio.Event()
            worker = WorkflowWorker(conninfo, settings, owner="leaving")
            task = asyncio.create_task(worker.run(stop))
            await wait_for(conninfo, lambda c: len(receiver.snapshot().requests) == 3, 10, task)
            stop.set()
            return await task

        stats = asyncio.run(stop_mid_delivery())
        released = executions(db)
        slow["on"] = False
        asyncio.run(run_worker_until(conninfo, all_status("completed", 5)))
    assert (stats.claimed, stats.released, stats.delivered) == (3, 3, 0)
    assert statuses_of(released) == {"queued": 5}
    assert all(e["attempts"] == 0 and e["lease_owner"] is None for e in released)
    assert [e["attempts"] for e in executions(db)] == [1] * 5


def statuses_of(rows: list[dict]) -> dict[str, int]:
    return dict(Counter(e["status"] for e in rows))


def test_changes_nobody_was_notified_of_are_dispatched_by_polling(db, db_url):
    conninfo = db_url.conninfo()
    with WebhookReceiver() as receiver:
        add_trigger(db, "ws1", "stage", receiver.url)
        early = add_contact(db, "ws1")
        set_stage(db, early, "opportunity")  # committed while no worker listens

        async def scenario():
            stop = asyncio.Event()
            worker = asyncio.create_task(WorkflowWorker(conninfo, FAST).run(stop))
            await wait_for(conninfo, lambda c: len(receiver.snapshot().processed) == 1, 10, worker)
            # Written straight into the change log: no trigger ran, so no NOTIFY was sent.
            db.execute(
                "INSERT INTO contact_field_changes (workspace_id, contact_id, field, old_value, "
                """new_value) VALUES ('ws1', %s, 'stage', '"opportunity"', '"customer"')""",
                (early,),
            )
            await wait_for(conninfo, lambda c: len(receiver.snapshot().processed) == 2, 10, worker)
            stop.set()
            return await worker

        stats = asyncio.run(scenario())
        bodies = [body["new"] for _, _, body in receiver.snapshot().first.values()]
    assert sorted(bodies) == ["customer", "opportunity"]
    assert stats.changes_dispatched == 2
    assert db.execute("SELECT bool_and(dispatched) FROM contact_field_changes").fetchone()[0]


def test_metrics_count_deliveries_failures_and_request_times(db, db_url):
    conninfo = db_url.conninfo()
    metrics = WorkerMetrics(conninfo)
    with WebhookReceiver(lambda key, seen: (503, {}, 0.0) if seen == 0 else (200, {}, 0.0)) as rx:
        enqueue_stage_changes(db, conninfo, "ws1", rx.url, 3, priority=2)
        db.execute(
            "UPDATE workflow_executions SET status = 'dead' WHERE id = "
            "(SELECT max(id) FROM workflow_executions)"
        )

        async def deliver():
            stop = asyncio.Event()
            task = asyncio.create_task(WorkflowWorker(conninfo, FAST, metrics=metrics).run(stop))
            await wait_for(conninfo, lambda c: statuses(c).get("completed") == 2, 20, task)
            stop.set()
            await task

        asyncio.run(deliver())
    try:
        text = generate_latest(metrics.registry).decode()
    finally:
        metrics.close()
    assert sample(text, "workflow_deliveries_total") == 2
    assert sample(text, 'workflow_delivery_failures_total{reason="http_5xx"}') == 2
    assert sample(text, "workflow_delivery_seconds_count") == 4
    assert sample(text, 'workflow_queue_depth{priority="2",status="dead"}') == 1
    assert sample(text, "workflow_queue_oldest_due_age_seconds") == 0
    assert sample(text, "workflow_changes_dispatched_total") == 0  # dispatched before it ran


def sample(text: str, name: str) -> float:
    """The value of one sample line of a Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {name} in:\n{text}")


def test_jobs_of_a_deactivated_trigger_go_to_the_dead_letters_undelivered(db, db_url):
    with WebhookReceiver() as receiver:
        trigger = enqueue_stage_changes(db, db_url.conninfo(), "ws1", receiver.url, 2)
        db.execute("UPDATE triggers SET active = false WHERE id = %s", (trigger,))
        asyncio.run(run_worker_until(db_url.conninfo(), all_status("dead", 2)))
        got = receiver.snapshot()
    assert not got.requests
    assert {e["last_error"] for e in executions(db)} == {"trigger deleted or inactive"}


def test_a_lost_connection_ends_the_run_with_no_task_left_behind(db, db_url):
    conninfo = db_url.conninfo()
    settings = replace(FAST, stop_grace_s=0.1)
    with WebhookReceiver(lambda key, seen: (200, {}, 1.0)) as receiver:
        enqueue_stage_changes(db, conninfo, "ws1", receiver.url, 3)

        async def lose_connections():
            task = asyncio.create_task(WorkflowWorker(conninfo, settings).run(asyncio.Event()))
            await wait_for(conninfo, lambda c: len(receiver.snapshot().requests) == 3, 10, task)
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                (APPLICATION_NAME,),
            )
            with pytest.raises(psycopg.OperationalError):
                await asyncio.wait_for(task, 10)
            return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

        assert asyncio.run(lose_connections()) == []
    assert statuses(db) == {"processing": 3}  # leased: reclaimed when the leases expire
