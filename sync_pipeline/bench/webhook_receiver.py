"""A webhook receiver on loopback for tests and `bench contacts`: minimal HTTP/1.1 on asyncio.

It runs its own event loop in a thread, keeps connections alive, deduplicates by
`Idempotency-Key` (a repeated key is answered 200 and counted as a duplicate, as a receiver
honouring the header would) and records when each key first arrived. `respond(key, seen)`
decides the answer: a status, extra headers and a delay before answering.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import orjson

Answer = tuple[int, dict[str, str], float]
Responder = Callable[[str, int], Answer]
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def always_ok(key: str, seen: int) -> Answer:
    return 200, {}, 0.0


@dataclass
class Received:
    """What arrived: first arrival per key (monotonic and wall time, body), and every request."""

    first: dict[str, tuple[float, float, dict]] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)
    processed: Counter = field(default_factory=Counter)

    @property
    def duplicates(self) -> int:
        return sum(self.requests.values()) - len(self.requests)


class WebhookReceiver:
    """`with WebhookReceiver() as receiver: receiver.url` — serves until the block ends."""

    def __init__(self, respond: Responder = always_ok, port: int = 0) -> None:
        """`port` 0 takes a free one; a given port lets a receiver come back at the same address."""
        self.respond = respond
        self.received = Received()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="webhook-receiver", daemon=True)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def distinct_delivered(self) -> int:
        """How many keys were answered 2xx so far (cheap: no copy)."""
        with self._lock:
            return len(self.received.first)

    def snapshot(self) -> Received:
        with self._lock:
            return Received(
                dict(self.received.first),
                Counter(self.received.requests),
                Counter(self.received.processed),
            )

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._connections: set[asyncio.Task] = set()
        server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, backlog=512, reuse_address=True
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = _headers(head)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, extra, delay = self._record(headers.get("idempotency-key", ""), body)
                if delay:
                    await asyncio.sleep(delay)
                lines = [
                    f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}",
                    "Content-Length: 2",
                    *(f"{k}: {v}" for k, v in extra.items()),
                ]
                writer.write(("\r\n".join(lines) + "\r\n\r\n{}").encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the receiver is stopping
        finally:
            writer.close()

    def _record(self, key: str, body: bytes) -> Answer:
        with self._lock:
            seen = self.received.requests[key]
            self.received.requests[key] += 1
        answer = self.respond(key, seen)
        if 200 <= answer[0] < 300:
            with self._lock:
                if key not in self.received.first:
                    self.received.first[key] = (time.monotonic(), time.time(), orjson.loads(body))
                    self.received.processed[key] += 1
        return answer


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
    }
