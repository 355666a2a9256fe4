"""The worker: fetch the details of given users under the detail limit, and store them.

    outcome = await apply_users(pool, detail_client, ids, run_id, scope="worker:<run key>")

Every id gets its task at once; the client holds them to `concurrency` requests in flight and to
the (shared, PostgreSQL-backed) rate limit, so the limit stays saturated even with 1-2 s
latencies. Slots are taken one at a time (`slots.py`): a worker never holds slots ahead that a
fresh change elsewhere would have to wait behind. Ids are sorted and stored in that order, a batch
at a time (`write_batch` users, or whatever arrived in `flush_every_s`), each batch in one
transaction with its checkpoint, which reads "the first n ids are stored". A failed run re-executed
with the same ids and scope resumes after them, so detail calls already paid for are not paid again;
a batch cut off by a crash is simply written again (batches are idempotent). One run per scope at a
time (`ScopeBusy`).

A 404 `user_not_found` soft-deletes the user; a 404 with any other code (a wrong base URL, say)
fails the run instead of deleting users by mistake.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from psycopg_pool import ConnectionPool

from sync_pipeline.engine import checkpoints
from sync_pipeline.engine.checkpoints import Checkpoint, Position
from sync_pipeline.engine.http import ApiClient, MalformedBody, NotFound, RequestRejected
from sync_pipeline.engine.scope_lock import scope_lock
from sync_pipeline.pipelines.users.progress import DetailProgress
from sync_pipeline.pipelines.users.slots import SLOT_TAKEN, SentMarks, gated
from sync_pipeline.pipelines.users.write import BatchWrite, write_batch

PIPELINE = "users"
GONE_CODE = "user_not_found"


@dataclass(frozen=True)
class ApplySettings:
    write_batch: int = 100
    flush_every_s: float = 30.0


@dataclass
class ApplyOutcome:
    """What a worker pass did; `fetch_span_s` runs from the first request to the last answer."""

    requested: int
    resumed_after: int = 0
    fetched: int = 0
    batches: int = 0
    write: BatchWrite = field(default_factory=BatchWrite)
    fetch_span_s: float = 0.0
    elapsed_s: float = 0.0
    http: dict[str, Any] = field(default_factory=dict)
    resume_note: str | None = None
    """Set when the scope's checkpoint was written for another id list: started over."""

    @property
    def detail_rps(self) -> float:
        return self.fetched / self.fetch_span_s if self.fetch_span_s > 0 else 0.0


async def apply_users(
    pool: ConnectionPool,
    client: ApiClient,
    ids: list[int],
    run_id: str,
    *,
    scope: str,
    resumable: bool = True,
    settings: ApplySettings = ApplySettings(),
) -> ApplyOutcome:
    """Fetch and store the users of `ids`; resume the scope's checkpoint when `resumable`.

    Raises `ScopeBusy`, what the client raises (stored batches stay, the checkpoint is marked
    failed) and psycopg errors.
    """
    started = time.monotonic()
    ordered = sorted(set(ids))
    outcome = ApplyOutcome(requested=len(ordered))
    with ExitStack() as stack:
        control = stack.enter_context(pool.connection())
        stack.enter_context(scope_lock(control, PIPELINE, scope))
        checkpoint = (
            checkpoints.start_or_resume(
                control, PIPELINE, scope, run_id, layout=ids_layout(ordered)
            )
            if resumable
            else None
        )
        outcome.resumed_after = min(checkpoint.page or 0, len(ordered)) if checkpoint else 0
        outcome.resume_note = checkpoint.note if checkpoint else None
        committer = Committer(pool, run_id, checkpoint, outcome)
        try:
            await fetch_and_store(pool, client, ordered, committer, settings)
        except BaseException:
            if committer.checkpoint is not None:
                with control.transaction():
                    checkpoints.set_status(control, committer.checkpoint, "failed")
            raise
        if committer.checkpoint is not None:
            with control.transaction():
                checkpoints.set_status(control, committer.checkpoint, "completed")
    outcome.http = client.metrics.snapshot()
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def ids_layout(ordered: list[int]) -> dict[str, Any]:
    """What the worker's position counts in: ids of this sorted list, one at a time (so a
    different `write_batch` resumes exactly; a different list of ids starts over)."""
    digest = hashlib.sha256(",".join(map(str, ordered)).encode()).hexdigest()[:16]
    return checkpoints.listing_layout(1, {"ids": len(ordered), "ids_sha256": digest})


async def fetch_detail(client: ApiClient, user_id: int) -> dict[str, Any] | None:
    """The user's detail, or None when the upstream says `user_not_found`.

    Raises `RequestRejected` for a 404 with another code, and what `ApiClient.get_json` raises.
    """
    path = f"/users/{user_id}"
    result = await client.get_json(path, parse=partial(_detail_of, user_id))
    if isinstance(result, NotFound):
        if result.code != GONE_CODE:
            raise RequestRejected("GET", path, 404, result.code, result.message)
        return None
    return result.data


def _detail_of(user_id: int, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or body.get("id") != user_id:
        raise MalformedBody(f"expected the detail of user {user_id}, got {str(body)[:80]!r}")
    return body


async def fetch_and_store(
    pool: ConnectionPool,
    client: ApiClient,
    ordered: list[int],
    committer: Committer,
    settings: ApplySettings,
    wait_turn: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Fetch the details of `ordered` (after `resumed_after`) through a `SlotGate` and store them
    in that order, a batch at a time; the progress (and ETA) is logged, and drawn on a terminal."""
    marks = SentMarks(pool)
    todo = ordered[committer.outcome.resumed_after :]
    progress = DetailProgress(client, len(todo), lambda: committer.outcome.fetched)
    try:
        with gated(client, wait_turn):
            async with progress:
                await _fetch_and_store(client, ordered, committer, settings, marks)
    finally:
        await marks.aclose()


async def _fetch_marked(client: ApiClient, user_id: int, marks: SentMarks) -> dict[str, Any] | None:
    SLOT_TAKEN.set(partial(marks.mark, user_id))
    return await fetch_detail(client, user_id)


async def _fetch_and_store(
    client: ApiClient,
    ordered: list[int],
    committer: Committer,
    settings: ApplySettings,
    marks: SentMarks,
) -> None:
    outcome = committer.outcome
    todo = ordered[outcome.resumed_after :]
    began = time.monotonic()
    tasks = [asyncio.ensure_future(_fetch_marked(client, user_id, marks)) for user_id in todo]
    details: list[dict[str, Any]] = []
    gone: list[int] = []
    oldest_unstored = 0.0
    try:
        for position, (user_id, task) in enumerate(
            zip(todo, tasks), start=outcome.resumed_after + 1
        ):
            detail = await task
            outcome.fetched += 1
            outcome.fetch_span_s = time.monotonic() - began
            if detail is None:
                gone.append(user_id)
            else:
                details.append(detail)
            oldest_unstored = oldest_unstored or time.monotonic()
            if (
                len(details) + len(gone) >= settings.write_batch
                or position == len(ordered)
                or time.monotonic() - oldest_unstored >= settings.flush_every_s
            ):
                await asyncio.to_thread(committer.commit, details, gone, position)
                details, gone, oldest_unstored = [], [], 0.0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Committer:
    """Writes one batch and advances the checkpoint in the same transaction."""

    def __init__(
        self,
        pool: ConnectionPool,
        run_id: str,
        checkpoint: Checkpoint | None,
        outcome: ApplyOutcome,
    ) -> None:
        self.pool, self.run_id, self.checkpoint, self.outcome = pool, run_id, checkpoint, outcome

    def commit(self, details: list[dict[str, Any]], gone: list[int], position: int) -> None:
        with self.pool.connection() as conn, conn.transaction():
            written = write_batch(conn, details, gone, self.run_id)
            if self.checkpoint is not None:
                advanced = checkpoints.advance(
                    conn, self.checkpoint, Position(page=position), len(details) + len(gone)
                )
        if self.checkpoint is not None:
            self.checkpoint = advanced
        self.outcome.write.add(written)
        self.outcome.batches += 1
