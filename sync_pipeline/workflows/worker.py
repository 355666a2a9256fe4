"""`WorkflowWorker`: delivers queued executions, and (by default) dispatches changes too.

    stats = asyncio.run(WorkflowWorker(conninfo, WorkerSettings(concurrency=16)).run(stop))

Up to `concurrency` webhooks are in flight. Jobs are claimed in batches under a lease as slots
free up; attempts are settled in batches a few milliseconds apart. The loop wakes on a
`workflow_executions` notification or a freed slot, and polls every `poll_s` regardless. Any
worker reclaims jobs whose lease expired. When `stop` is set, no new job is claimed, in-flight
deliveries get `stop_grace_s` to finish, and jobs still unfinished are released untried.
`until_idle` (the Dagster drain job) returns once nothing is due and nothing is in flight.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta

import aiohttp
from psycopg import AsyncConnection

from sync_pipeline.workflows import queue
from sync_pipeline.workflows.delivery import Backoff, post_webhook, settlement_for
from sync_pipeline.workflows.dispatcher import WAKE_DISPATCHER, dispatch_pending
from sync_pipeline.workflows.metrics import WorkerMetrics
from sync_pipeline.workflows.queue import Job, Settlement
from sync_pipeline.workflows.trigger_cache import TRIGGERS_CHANNEL, TriggerCache

APPLICATION_NAME = "sync_pipeline workflows worker"
"""How worker connections show in `pg_stat_activity`."""


@dataclass(frozen=True)
class WorkerSettings:
    """Knobs of one worker process (defaults suit production; tests shorten the times)."""

    concurrency: int = 16
    claim_batch: int = 100
    lease_s: float = 60.0
    request_timeout_s: float = 10.0
    poll_s: float = 1.0
    settle_interval_s: float = 0.02
    backoff: Backoff = field(default_factory=Backoff)
    dispatch: bool = True
    dispatch_batch: int = 2000
    trigger_ttl_s: float = 30.0
    stop_grace_s: float = 20.0
    until_idle: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.claim_batch < 1:
            raise ValueError("concurrency and claim_batch must be at least 1")
        if self.lease_s <= self.request_timeout_s + 1:
            raise ValueError("lease_s must exceed request_timeout_s by more than a second")
        if min(self.request_timeout_s, self.poll_s) <= 0 or self.stop_grace_s < 0:
            raise ValueError(
                "timeouts and the poll interval must be positive, the grace not negative"
            )


@dataclass
class WorkerStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    reclaimed: int = 0
    changes_dispatched: int = 0
    executions_queued: int = 0


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkflowWorker:
    """One worker process's delivery loop; see the module docstring."""

    def __init__(
        self,
        conninfo: str,
        settings: WorkerSettings | None = None,
        owner: str | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.settings = settings or WorkerSettings()
        self.owner = owner or new_owner_id()
        self.metrics = metrics
        self.stats = WorkerStats()
        self._in_flight: dict[asyncio.Task, Job] = {}
        self._settlements: list[Settlement] = []
        self._wake = asyncio.Event()
        self._changes = asyncio.Event()
        self._settle_wake = asyncio.Event()
        self._background: list[asyncio.Task] = []
        self._last_reclaim = 0.0
        self._delivery_error: BaseException | None = None

    async def run(self, stop: asyncio.Event | None = None) -> WorkerStats:
        """Deliver until `stop` is set (or, with `until_idle`, until nothing is left to do)."""
        stop = stop or asyncio.Event()
        async with AsyncExitStack() as stack:
            claim_conn = await self._connect(stack)
            settle_conn = await self._connect(stack)
            listen_conn = await self._connect(stack)
            self._cache = TriggerCache(await self._connect(stack), self.settings.trigger_ttl_s)
            self._client = await stack.enter_async_context(self._http_session())
            for channel in (queue.WAKE_WORKERS, WAKE_DISPATCHER, TRIGGERS_CHANNEL):
                await listen_conn.execute(f"LISTEN {channel}")
            dispatch_conn = await self._connect(stack) if self.settings.dispatch else None
            self._start(
                self._listen(listen_conn), self._settle_loop(settle_conn), self._watch(stop)
            )
            if dispatch_conn is not None and not self.settings.until_idle:
                self._start(self._dispatch_loop(dispatch_conn, stop))
            try:
                await self._deliver_loop(claim_conn, dispatch_conn, stop)
            finally:
                try:
                    await self._stop_in_flight(claim_conn)
                    await self._flush(settle_conn)
                finally:
                    await self._cancel_background()
        return self.stats

    async def _cancel_background(self) -> None:
        """Stop the helper tasks, also when stopping failed (a lost connection): none outlives
        this run, so a worker restarted in the same loop starts clean."""
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []

    def _http_session(self) -> aiohttp.ClientSession:
        """Up to `concurrency` keep-alive connections; each attempt bounded by the timeout."""
        connector = aiohttp.TCPConnector(limit=self.settings.concurrency, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=self.settings.request_timeout_s)
        return aiohttp.ClientSession(
            connector=connector, timeout=timeout, skip_auto_headers=("User-Agent",)
        )

    async def _connect(self, stack: AsyncExitStack) -> AsyncConnection:
        conn = await AsyncConnection.connect(
            self.conninfo, autocommit=True, application_name=APPLICATION_NAME
        )
        stack.push_async_callback(conn.close)
        return conn

    def _start(self, *coroutines) -> None:
        self._background += [asyncio.create_task(c) for c in coroutines]

    async def _deliver_loop(
        self, conn: AsyncConnection, dispatch_conn: AsyncConnection | None, stop: asyncio.Event
    ) -> None:
        s = self.settings
        while not stop.is_set():
            self._raise_background_failure()
            self._wake.clear()
            await self._reclaim_now_and_then(conn)
            if s.until_idle and dispatch_conn is not None:
                await self._dispatch(dispatch_conn)
            free = s.concurrency - len(self._in_flight)
            wanted = min(free, s.claim_batch)
            jobs = (
                await queue.claim(conn, self.owner, wanted, timedelta(seconds=s.lease_s))
                if wanted
                else []
            )
            self.stats.claimed += len(jobs)
            for job in jobs:
                task = asyncio.create_task(self._deliver(job))
                self._in_flight[task] = job
                task.add_done_callback(self._delivery_done)
            if s.until_idle and not jobs and not self._in_flight:
                return
            if wanted and len(jobs) == wanted:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), s.poll_s)
            except TimeoutError:
                pass

    def _delivery_done(self, task: asyncio.Task) -> None:
        if not task.cancelled():
            self._in_flight.pop(task, None)
            if task.exception() is not None and self._delivery_error is None:
                self._delivery_error = task.exception()
        self._wake.set()

    async def _deliver(self, job: Job) -> None:
        target = await self._cache.get(job.trigger_id)
        if target is None or not target.active:
            self._settle(job, Settlement(job.id, "dead", error="trigger deleted or inactive"), None)
            return
        attempt = await post_webhook(self._client, target.webhook_url, job)
        self._settle(job, settlement_for(job, attempt, self.settings.backoff), attempt)

    def _settle(self, job: Job, settlement: Settlement, attempt) -> None:
        self._settlements.append(settlement)
        self._settle_wake.set()
        if settlement.status == "completed":
            self.stats.delivered += 1
        elif settlement.status == "dead":
            self.stats.dead += 1
        else:
            self.stats.retried += 1
        if self.metrics is not None:
            if attempt is not None:
                self.metrics.latency.observe(attempt.seconds)
                if attempt.delivered:
                    self.metrics.deliveries.inc()
                else:
                    self.metrics.failures.labels(attempt.reason).inc()
            if settlement.status == "dead":
                self.metrics.dead.inc()

    async def _settle_loop(self, conn: AsyncConnection) -> None:
        while True:
            await self._settle_wake.wait()
            await asyncio.sleep(self.settings.settle_interval_s)
            self._settle_wake.clear()
            await self._flush(conn)

    async def _flush(self, conn: AsyncConnection) -> None:
        batch, self._settlements = self._settlements, []
        if batch:
            await queue.settle(conn, self.owner, batch)

    async def _listen(self, conn: AsyncConnection) -> None:
        async for notice in conn.notifies():
            if notice.channel == queue.WAKE_WORKERS:
                self._wake.set()
            elif notice.channel == WAKE_DISPATCHER:
                self._changes.set()
            elif notice.channel == TRIGGERS_CHANNEL:
                self._cache.invalidate()

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _dispatch_loop(self, conn: AsyncConnection, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._changes.clear()
            await self._dispatch(conn)
            try:
                await asyncio.wait_for(self._changes.wait(), self.settings.poll_s)
            except TimeoutError:
                pass

    async def _dispatch(self, conn: AsyncConnection) -> None:
        done = await dispatch_pending(conn, self.settings.dispatch_batch)
        self.stats.changes_dispatched += done.changes
        self.stats.executions_queued += done.queued
        if self.metrics is not None:
            self.metrics.dispatched.inc(done.changes)
            self.metrics.queued.inc(done.queued)

    async def _reclaim_now_and_then(self, conn: AsyncConnection) -> None:
        interval = max(self.settings.lease_s / 4, 0.5)
        if time.monotonic() - self._last_reclaim >= interval:
            self._last_reclaim = time.monotonic()
            self.stats.reclaimed += await queue.reclaim_expired(conn)

    def _raise_background_failure(self) -> None:
        if self._delivery_error is not None:
            raise self._delivery_error
        for task in self._background:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()

    async def _stop_in_flight(self, conn: AsyncConnection) -> None:
        """Let in-flight deliveries finish within the grace period; release the rest untried."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=self.settings.stop_grace_s)
        unfinished = [job for task, job in self._in_flight.items() if not task.done()]
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        if unfinished and not conn.closed:
            self.stats.released += await queue.release(
                conn, self.owner, [job.id for job in unfinished]
            )
