"""contacts workflow deliveries while the webhook receiver is down (connections refused), then
answers 429, then 500, then too slowly (the attempt times out after the receiver took it):
after it recovers every delivery is processed exactly once per `Idempotency-Key`, and nothing
is left queued, failed or dead. A second case keeps the receiver's address refusing for a whole
minute (three under `--soak`) under a backoff that grows to 8 s, as a real outage would, and
then brings the receiver back at that address. (A worker killed mid-delivery:
workflows/test_worker_process.py.)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from sync_pipeline.bench.webhook_receiver import Answer, Received, WebhookReceiver
from sync_pipeline.upstream.process import free_port
from sync_pipeline.workflows.delivery import Backoff
from sync_pipeline.workflows.worker import WorkflowWorker
from sync_pipeline_tests.workflows.helpers import enqueue_stage_changes, executions, statuses
from sync_pipeline_tests.workflows.test_worker import FAST, wait_for

DELIVERIES = 40
DOWN_S = 1.0
SLOW_S = 0.6
SETTINGS = replace(FAST, request_timeout_s=0.3)
OUTAGE_S, SOAK_OUTAGE_S = 60.0, 180.0
# Retries spread out the way a production backoff does (up to 8 s apart), so that a minute of
# refusals is a dozen attempts per delivery, well inside the attempts a trigger allows.
OUTAGE_SETTINGS = replace(FAST, backoff=Backoff(base_s=0.5, cap_s=8.0))
OUTAGE_ATTEMPTS = 100
FAULTY_ANSWERS: dict[int, Answer] = {
    0: (429, {"Retry-After": "0"}, 0.0),
    1: (500, {}, 0.0),
    2: (200, {}, SLOW_S),  # taken by the receiver, but after the worker gave up on it
}


def faulty(key: str, seen: int) -> Answer:
    return FAULTY_ANSWERS.get(seen, (200, {}, 0.0))


def test_every_delivery_arrives_once_after_the_receiver_recovers(db, db_url, soak, figures):
    count = DELIVERIES * (5 if soak else 1)
    conninfo = db_url.conninfo()
    with WebhookReceiver(faulty) as receiver:
        nowhere = f"http://127.0.0.1:{free_port()}/hook"
        trigger = enqueue_stage_changes(db, conninfo, "ws1", nowhere, count, max_attempts=60)

        async def scenario() -> None:
            stop = asyncio.Event()
            worker = asyncio.create_task(_worker(conninfo, stop))
            await asyncio.sleep(DOWN_S * (5 if soak else 1))
            db.execute(
                "UPDATE triggers SET webhook_url = %s WHERE id = %s", (receiver.url, trigger)
            )
            try:
                await wait_for(conninfo, lambda c: statuses(c) == {"completed": count}, 60, worker)
            finally:
                stop.set()
                await worker

        asyncio.run(scenario())
        time.sleep(SLOW_S)  # the slow answers still in the receiver's hands
        received = receiver.snapshot()

    delivery_ids = {str(e["delivery_id"]) for e in executions(db)}
    attempts = sum(e["attempts"] for e in executions(db))
    refused = attempts - sum(received.requests.values())
    lost = delivery_ids - set(received.processed)
    processed_twice = [key for key, times in received.processed.items() if times > 1]
    figures.record(
        "webhook receiver down, 429, 500, slow",
        injected=refused + sum(min(n, len(FAULTY_ANSWERS)) for n in received.requests.values()),
        compared=len(delivery_ids),
        lost=len(lost),
        duplicated=len(processed_twice),
    )
    assert len(delivery_ids) == count and refused > 0
    assert set(received.processed) == delivery_ids and not processed_twice
    assert all(received.requests[key] > len(FAULTY_ANSWERS) for key in delivery_ids)


async def _worker(conninfo: str, stop: asyncio.Event) -> None:
    await WorkflowWorker(conninfo, SETTINGS).run(stop)


def test_a_minute_long_outage_at_the_same_address_loses_nothing(db, db_url, soak, figures):
    count = DELIVERIES * (5 if soak else 1)
    outage_s = SOAK_OUTAGE_S if soak else OUTAGE_S
    conninfo = db_url.conninfo()
    port = free_port()
    trigger_url = f"http://127.0.0.1:{port}/hook"
    enqueue_stage_changes(db, conninfo, "ws1", trigger_url, count, max_attempts=OUTAGE_ATTEMPTS)

    async def scenario() -> tuple[float, Received]:
        stop = asyncio.Event()
        worker = asyncio.create_task(WorkflowWorker(conninfo, OUTAGE_SETTINGS).run(stop))
        await asyncio.sleep(outage_s)
        assert not worker.done(), "the worker stopped during the outage"
        with WebhookReceiver(port=port) as receiver:
            assert receiver.url == trigger_url
            back_at = time.monotonic()
            try:
                await wait_for(conninfo, lambda c: statuses(c) == {"completed": count}, 60, worker)
            finally:
                stop.set()
                await worker
            return time.monotonic() - back_at, receiver.snapshot()

    caught_up_s, received = asyncio.run(scenario())

    runs = executions(db)
    delivery_ids = {str(e["delivery_id"]) for e in runs}
    refused = sum(e["attempts"] for e in runs) - sum(received.requests.values())
    processed_twice = [key for key, times in received.processed.items() if times > 1]
    figures.record(
        f"webhook receiver down for {outage_s:.0f} s at the same address",
        injected=refused,
        compared=len(delivery_ids),
        lost=len(delivery_ids - set(received.processed)),
        duplicated=len(processed_twice),
    )
    assert len(delivery_ids) == count
    # Every delivery kept trying through the outage, none ran out of attempts ...
    assert min(e["attempts"] for e in runs) >= 5 and refused >= 4 * count
    assert max(e["attempts"] for e in runs) < OUTAGE_ATTEMPTS
    # ... and all of them arrived once, within one backoff ceiling of the receiver's return.
    assert set(received.processed) == delivery_ids and not processed_twice
    assert caught_up_s <= OUTAGE_SETTINGS.backoff.cap_s + 10
