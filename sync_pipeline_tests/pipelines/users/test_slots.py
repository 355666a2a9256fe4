"""`SlotGate` on a real in-process token bucket: one waiter at a time, but a retry of a request
that already had a slot does not queue again behind every other request of its run."""

import asyncio

from sync_pipeline.engine.http.token_bucket import TokenBucket
from sync_pipeline.pipelines.users.slots import SlotGate

QUEUED = 10


def test_a_retry_takes_the_next_slot_instead_of_queueing_behind_the_run():
    async def scenario() -> list[str]:
        gate = SlotGate(TokenBucket(rate=20.0))
        order: list[str] = []

        async def first_request(number: int) -> None:
            await gate.acquire()
            order.append(f"first {number}")

        async def retried_request() -> None:
            await gate.acquire()
            await asyncio.sleep(0.02)  # its attempt fails meanwhile
            await gate.acquire()
            order.append("retry")

        retry = asyncio.create_task(retried_request())
        await asyncio.sleep(0)
        await asyncio.gather(retry, *(first_request(n) for n in range(QUEUED)))
        return order

    order = asyncio.run(scenario())
    assert len(order) == QUEUED + 1
    assert order.index("retry") <= 2, order
