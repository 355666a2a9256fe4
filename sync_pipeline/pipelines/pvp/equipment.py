"""Equipment of a stored leaderboard snapshot, fetched only when it can have changed.

The rule, per entry of the snapshot (`decide`):
- a private or not-found character is skipped before any call;
- its latest equipment snapshot is reused (and linked) when it is younger than the max age and
  either the character's `stats.played` on this board has not moved since its previous entry
  on a processed snapshot of the board, or the equipment was fetched after this leaderboard's
  `snapshot_at` (another board of the same sync fetched it);
- otherwise it is fetched, at most once per character per sync across brackets: the call is
  claimed in `pvp_characters.equipment_claimed_at`, and a character another board claimed since
  the leaderboard's snapshot (or within the max age, for a merely stale one) is left to it, as
  long as the database session that claimed it runs (a killed run's claims are taken over).

Fetched equipment is written in batches, one transaction each: the item catalogue upsert, then
one statement with the snapshots and the slot pair (stale slots deleted, changed slots upserted;
an unchanged slot is not rewritten), then the flags (private, not found, failed calls
unclaimed). Last, once the calls other live boards claimed for its characters have landed
(polled, at most `claim_wait_s`), every entry is linked to its character's latest equipment snapshot
and the snapshot is marked processed (unless a call failed or is still pending: the next sync then
compares against an older snapshot and retries).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient, NotFound, RetryBudgetExhausted
from sync_pipeline.engine.statement_count import StatementCounter, counting
from sync_pipeline.engine.transactions import TransactionRetry, in_transaction
from sync_pipeline.entities.pvp import Equipment, parse_equipment
from sync_pipeline.pipelines.pvp.leaderboard import Board
from sync_pipeline.pipelines.pvp.settings import PvpSettings

PRIVATE_CODE, NOT_FOUND_CODE = "character_private", "character_not_found"
CLAIM_POLL_S = 0.1
_COUNTED_AS = {
    "skip_private": "skipped_private",
    "skip_not_found": "skipped_not_found",
    "reuse": "reused",
}


class UnexpectedNotFound(LookupError):
    """An equipment 404 with a code the contract does not name (a wrong base URL, say)."""


@dataclass(frozen=True)
class Candidate:
    """An entry of the snapshot with what the rule needs to know about its character."""

    character_pk: int
    character_id: int
    name: str
    realm: str
    played: int
    is_private: bool
    not_found: bool
    previous_played: int | None
    equipment_id: int | None
    equipment_fetched_at: datetime | None


@dataclass(frozen=True)
class Decision:
    action: str  # "skip_private", "skip_not_found", "reuse" or "fetch"
    needed_since: datetime | None = None


@dataclass
class EquipmentOutcome:
    """What one snapshot's equipment pass did (counts of characters, and its own statements)."""

    board: Board
    snapshot_id: int
    entries: int = 0
    fetched: int = 0
    reused: int = 0
    claimed_elsewhere: int = 0
    skipped_private: int = 0
    skipped_not_found: int = 0
    became_private: int = 0
    became_not_found: int = 0
    failed: int = 0
    slots_written: int = 0
    slots_removed: int = 0
    catalogue_written: int = 0
    linked: int = 0
    processed: bool = False
    batches: int = 0
    db_retries: int = 0
    waited_s: float = 0.0
    statements: int = 0
    db_seconds: float = 0.0
    first_request_at: float | None = None
    last_response_at: float | None = None

    @property
    def requests(self) -> int:
        return self.fetched + self.became_private + self.became_not_found + self.failed

    @property
    def skipped(self) -> int:
        return self.skipped_private + self.skipped_not_found


def decide(
    candidate: Candidate,
    snapshot_at: datetime,
    now: datetime,
    max_age: timedelta,
    sync_started_at: datetime | None = None,
) -> Decision:
    """The equipment rule for one entry (see the module docstring). A stale character's call
    counts as taken when another board claimed it within the max age or since the sync began."""
    if candidate.is_private:
        return Decision("skip_private")
    if candidate.not_found:
        return Decision("skip_not_found")
    fetched_at = candidate.equipment_fetched_at
    if fetched_at is not None and fetched_at > now - max_age:
        if candidate.previous_played == candidate.played or fetched_at >= snapshot_at:
            return Decision("reuse")
        return Decision("fetch", snapshot_at)
    if fetched_at is None:
        return Decision("fetch", snapshot_at)
    return Decision("fetch", max(snapshot_at, min(now - max_age, sync_started_at or now)))


async def sync_snapshot_equipment(
    pool: ConnectionPool,
    client: ApiClient,
    board: Board,
    snapshot_id: int,
    snapshot_at: datetime,
    run_id: str,
    settings: PvpSettings,
    retry: TransactionRetry | None = None,
    sync_started_at: datetime | None = None,
) -> EquipmentOutcome:
    """Apply the rule to every entry of the snapshot, fetch and store what it asks for, link
    the entries and mark the snapshot processed. Raises `UnexpectedNotFound`, and the client's
    errors other than an exhausted retry budget (those calls count as `failed`)."""
    retry = retry or TransactionRetry()
    outcome = EquipmentOutcome(board, snapshot_id)
    counter = StatementCounter()
    candidates, now = await asyncio.to_thread(
        _read, pool, counter, retry, _plan, snapshot_id, board
    )
    outcome.entries = len(candidates)
    wanted: dict[int, tuple[Candidate, datetime]] = {}
    for candidate in candidates:
        decision = decide(candidate, snapshot_at, now, settings.equipment_max_age, sync_started_at)
        if decision.action == "fetch":
            wanted[candidate.character_pk] = (candidate, decision.needed_since)
        else:
            counted = _COUNTED_AS[decision.action]
            setattr(outcome, counted, getattr(outcome, counted) + 1)
    claimed = await asyncio.to_thread(_read, pool, counter, retry, _claim, list(wanted.values()))
    outcome.claimed_elsewhere = len(wanted) - len(claimed)
    outcome.reused += outcome.claimed_elsewhere
    writer = _BatchWriter(pool, counter, retry, run_id, settings.equipment_batch, outcome)
    try:
        await _fetch_all(
            client, board, [wanted[pk][0] for pk in sorted(claimed)], settings, writer, outcome
        )
    finally:
        await writer.close()
    outcome.waited_s, pending = await _wait_for_other_boards(
        pool, counter, retry, snapshot_id, settings.claim_wait_s
    )
    outcome.linked, outcome.processed = await asyncio.to_thread(
        _read, pool, counter, retry, _finish, snapshot_id, outcome.failed == 0 and pending == 0
    )
    outcome.statements, outcome.db_seconds, outcome.db_retries = (
        counter.statements,
        counter.seconds,
        retry.retries,
    )
    return outcome


async def _wait_for_other_boards(
    pool: ConnectionPool,
    counter: StatementCounter,
    retry: TransactionRetry,
    snapshot_id: int,
    limit_s: float,
) -> tuple[float, int]:
    """Wait (polling) until no character of the snapshot has a call claimed by another board
    that has not landed yet, at most `limit_s`; returns (seconds waited, still pending)."""
    started = time.monotonic()
    delay = CLAIM_POLL_S
    while True:
        pending = await asyncio.to_thread(
            _read, pool, counter, retry, _pending_elsewhere, snapshot_id
        )
        waited = time.monotonic() - started
        if pending == 0 or waited >= limit_s:
            return waited, pending
        await asyncio.sleep(min(delay, limit_s - waited))
        delay = min(delay * 2, 2.0)


def equipment_path(board: Board, candidate: Candidate) -> str:
    return (
        f"/characters/{board.region}/{quote(candidate.realm, safe='')}/"
        f"{quote(candidate.name.lower(), safe='')}/equipment"
    )


async def _fetch_all(
    client: ApiClient,
    board: Board,
    todo: list[Candidate],
    settings: PvpSettings,
    writer: _BatchWriter,
    outcome: EquipmentOutcome,
) -> None:
    queue = list(reversed(todo))

    async def worker() -> None:
        while queue:
            candidate = queue.pop()
            if outcome.first_request_at is None:
                outcome.first_request_at = time.monotonic()
            result = await _fetch_one(client, board, candidate)
            outcome.last_response_at = time.monotonic()
            await writer.add(candidate, result)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(settings.processing_threads, len(todo))):
            group.create_task(worker())


async def _fetch_one(client: ApiClient, board: Board, candidate: Candidate) -> Equipment | str:
    """The equipment, or "private", "not_found" or "failed" (retries exhausted)."""
    try:
        response = await client.get_json(equipment_path(board, candidate), parse=parse_equipment)
    except RetryBudgetExhausted:
        return "failed"
    if isinstance(response, NotFound):
        if response.code == PRIVATE_CODE:
            return "private"
        if response.code == NOT_FOUND_CODE:
            return "not_found"
        raise UnexpectedNotFound(f"{response.path}: 404 {response.code or 'without an error code'}")
    return response.data


class _BatchWriter:
    """Collects fetch results and writes them `batch` at a time in a worker thread, one write in
    flight while the fetches go on."""

    def __init__(
        self,
        pool: ConnectionPool,
        counter: StatementCounter,
        retry: TransactionRetry,
        run_id: str,
        batch: int,
        outcome: EquipmentOutcome,
    ) -> None:
        self._pool, self._counter, self._retry, self._run_id = pool, counter, retry, run_id
        self._batch, self._outcome = batch, outcome
        self._pending: list[tuple[Candidate, Equipment | str]] = []
        self._writing: asyncio.Task | None = None

    async def add(self, candidate: Candidate, result: Equipment | str) -> None:
        self._pending.append((candidate, result))
        if len(self._pending) >= self._batch and (self._writing is None or self._writing.done()):
            await self._start()

    async def _start(self) -> None:
        if self._writing is not None:
            await self._writing
        results, self._pending = self._pending, []
        self._writing = asyncio.create_task(asyncio.to_thread(self._write, results))

    async def close(self) -> None:
        if self._pending:
            await self._start()
        if self._writing is not None:
            await self._writing

    def _write(self, results: list[tuple[Candidate, Equipment | str]]) -> None:
        counts = _read(self._pool, self._counter, self._retry, _write_batch, results, self._run_id)
        outcome = self._outcome
        outcome.batches += 1
        for name, value in counts.items():
            setattr(outcome, name, getattr(outcome, name) + value)


def _read(
    pool: ConnectionPool, counter: StatementCounter, retry: TransactionRetry, work: Any, *args: Any
) -> Any:
    def run(conn: psycopg.Connection) -> Any:
        with counting(conn, counter):
            return work(conn, *args)

    return in_transaction(pool, run, retry)


def _plan(
    conn: psycopg.Connection, snapshot_id: int, board: Board
) -> tuple[list[Candidate], datetime]:
    rows = conn.execute(
        _PLAN, {"snapshot_id": snapshot_id, "region": board.region, "bracket": board.bracket}
    ).fetchall()
    now = rows[0][-1] if rows else conn.execute("SELECT now()").fetchone()[0]
    return [Candidate(*row[:-1]) for row in rows], now


def _claim(conn: psycopg.Connection, wanted: list[tuple[Candidate, datetime]]) -> set[int]:
    if not wanted:
        return set()
    rows = conn.execute(
        _CLAIM, ([c.character_pk for c, _ in wanted], [since for _, since in wanted])
    ).fetchall()
    return {pk for (pk,) in rows}


def _write_batch(
    conn: psycopg.Connection, results: list[tuple[Candidate, Equipment | str]], run_id: str
) -> dict[str, int]:
    fetched = [(c, r) for c, r in results if isinstance(r, Equipment)]
    flags = [(c.character_pk, r) for c, r in results if isinstance(r, str)]
    counts = {
        "fetched": len(fetched),
        "became_private": sum(r == "private" for _, r in flags),
        "became_not_found": sum(r == "not_found" for _, r in flags),
        "failed": sum(r == "failed" for _, r in flags),
    }
    if fetched:
        catalogue = {i.item_id: (i.name, i.quality) for _, e in fetched for i in e.items}
        if catalogue:
            ids = sorted(catalogue)
            counts["catalogue_written"] = conn.execute(
                _CATALOGUE, (ids, [catalogue[i][0] for i in ids], [catalogue[i][1] for i in ids])
            ).rowcount
        slots = [(c.character_pk, i) for c, e in fetched for i in e.items]
        _, written, removed = conn.execute(
            _SNAPSHOTS_AND_SLOTS,
            {
                "pk": [c.character_pk for c, _ in fetched],
                "played": [c.played for c, _ in fetched],
                "fingerprint": [e.fingerprint for _, e in fetched],
                "items": [len(e.items) for _, e in fetched],
                "run_id": run_id,
                "slot_pk": [pk for pk, _ in slots],
                "slot": [i.slot for _, i in slots],
                "item_id": [i.item_id for _, i in slots],
                "item_level": [i.item_level for _, i in slots],
                "enchantments": [i.enchantments for _, i in slots],
            },
        ).fetchone()
        counts.update(slots_written=written, slots_removed=removed)
    if flags:
        conn.execute(
            _FLAGS,
            (
                [pk for pk, _ in flags],
                [r == "private" for _, r in flags],
                [r == "not_found" for _, r in flags],
                [r == "failed" for _, r in flags],
            ),
        )
    return counts


def _pending_elsewhere(conn: psycopg.Connection, snapshot_id: int) -> int:
    return conn.execute(_PENDING, (snapshot_id,)).fetchone()[0]


def _finish(conn: psycopg.Connection, snapshot_id: int, complete: bool) -> tuple[int, bool]:
    linked, processed = conn.execute(
        _LINK_AND_PROCESS, {"snapshot_id": snapshot_id, "complete": complete}
    ).fetchone()
    return linked, processed


_PLAN = """
SELECT e.character_pk, c.character_id, c.name, c.realm, e.played, c.is_private,
       c.not_found_at IS NOT NULL, previous.played, latest.id, latest.fetched_at, now()
FROM pvp_leaderboard_entries e
JOIN pvp_characters c ON c.id = e.character_pk
LEFT JOIN LATERAL (
    SELECT p.played FROM pvp_leaderboard_entries p JOIN pvp_leaderboards s ON s.id = p.snapshot_id
    WHERE p.character_pk = e.character_pk AND p.snapshot_id < e.snapshot_id
      AND s.region = %(region)s AND s.bracket = %(bracket)s AND s.equipment_processed_at IS NOT NULL
    ORDER BY p.snapshot_id DESC LIMIT 1) previous ON true
LEFT JOIN LATERAL (
    SELECT q.id, q.fetched_at FROM pvp_equipment_snapshots q WHERE q.character_pk = e.character_pk
    ORDER BY q.fetched_at DESC LIMIT 1) latest ON true
WHERE e.snapshot_id = %(snapshot_id)s
ORDER BY e.rank
"""

# Rows are locked in character_id order, as the leaderboard upsert locks them; a row another
# claim took meanwhile is re-checked after the wait (READ COMMITTED), so each call is claimed once.
# A claim whose session has ended (its run was killed) is taken over (sql/035_pvp_claim_owner.sql).
_CLAIM = """
WITH wanted AS (
    SELECT c.id FROM pvp_characters c
    JOIN unnest(%s::bigint[], %s::timestamptz[]) AS w (id, needed_since) ON w.id = c.id
    WHERE NOT c.is_private AND c.not_found_at IS NULL
      AND (c.equipment_claimed_at IS NULL OR c.equipment_claimed_at < w.needed_since
           OR NOT pvp_claim_live(c.equipment_claimed_pid, c.equipment_claimed_backend_start))
    ORDER BY c.character_id
    FOR UPDATE OF c
)
UPDATE pvp_characters c
SET equipment_claimed_at = now(), equipment_claimed_pid = pg_backend_pid(),
    equipment_claimed_backend_start = pvp_claim_backend_start()
FROM wanted WHERE c.id = wanted.id
RETURNING c.id
"""

_CATALOGUE = """
INSERT INTO pvp_equipment_items AS t (id, name, quality)
SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, quality = EXCLUDED.quality, synced_at = now()
WHERE (t.name, t.quality) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.quality)
"""

_SNAPSHOTS_AND_SLOTS = """
WITH fetched AS (
    SELECT * FROM unnest(%(pk)s::bigint[], %(played)s::int[], %(fingerprint)s::bytea[], %(items)s::int[])
        AS f (character_pk, played, fingerprint, items)
), snap AS (
    INSERT INTO pvp_equipment_snapshots (character_pk, played, fingerprint, items, last_run_id)
    SELECT character_pk, played, fingerprint, items, %(run_id)s FROM fetched
    RETURNING id, character_pk
), slots AS (
    SELECT s.id AS snapshot_id, u.*
    FROM unnest(%(slot_pk)s::bigint[], %(slot)s::text[], %(item_id)s::bigint[], %(item_level)s::int[],
                %(enchantments)s::jsonb[]) AS u (character_pk, slot, item_id, item_level, enchantments)
    JOIN snap s USING (character_pk)
), removed AS (
    DELETE FROM pvp_equipped_items q USING fetched f
    WHERE q.character_pk = f.character_pk
      AND NOT EXISTS (SELECT FROM slots s WHERE s.character_pk = q.character_pk AND s.slot = q.slot)
    RETURNING 1
), written AS (
    INSERT INTO pvp_equipped_items AS t (character_pk, slot, item_id, item_level, enchantments,
                                         equipment_snapshot_id)
    SELECT character_pk, slot, item_id, item_level, enchantments, snapshot_id FROM slots
    ORDER BY character_pk, slot
    ON CONFLICT (character_pk, slot) DO UPDATE SET
        item_id = EXCLUDED.item_id, item_level = EXCLUDED.item_level,
        enchantments = EXCLUDED.enchantments, equipment_snapshot_id = EXCLUDED.equipment_snapshot_id,
        synced_at = now()
    WHERE (t.item_id, t.item_level, t.enchantments)
          IS DISTINCT FROM (EXCLUDED.item_id, EXCLUDED.item_level, EXCLUDED.enchantments)
    RETURNING 1
)
SELECT (SELECT count(*) FROM snap), (SELECT count(*) FROM written), (SELECT count(*) FROM removed)
"""  # noqa: E501

_FLAGS = """
WITH flags AS (
    SELECT * FROM unnest(%s::bigint[], %s::boolean[], %s::boolean[], %s::boolean[])
        AS f (id, private, not_found, failed)
), locked AS (
    SELECT c.id FROM pvp_characters c JOIN flags f USING (id) ORDER BY c.character_id FOR UPDATE OF c
)
UPDATE pvp_characters c SET
    is_private = c.is_private OR f.private,
    not_found_at = CASE WHEN f.not_found THEN now() ELSE c.not_found_at END,
    equipment_claimed_at = CASE WHEN f.failed THEN NULL ELSE c.equipment_claimed_at END
FROM flags f JOIN locked USING (id)
WHERE c.id = f.id
"""  # noqa: E501

_PENDING = """
SELECT count(*) FROM pvp_leaderboard_entries e JOIN pvp_characters c ON c.id = e.character_pk
WHERE e.snapshot_id = %s AND NOT c.is_private AND c.not_found_at IS NULL
  AND c.equipment_claimed_at IS NOT NULL
  AND pvp_claim_live(c.equipment_claimed_pid, c.equipment_claimed_backend_start)
  AND NOT EXISTS (SELECT FROM pvp_equipment_snapshots q
                  WHERE q.character_pk = c.id AND q.fetched_at >= c.equipment_claimed_at)
"""

_LINK_AND_PROCESS = """
WITH latest AS (
    SELECT e.character_pk,
           (SELECT q.id FROM pvp_equipment_snapshots q WHERE q.character_pk = e.character_pk
            ORDER BY q.fetched_at DESC LIMIT 1) AS equipment_id
    FROM pvp_leaderboard_entries e WHERE e.snapshot_id = %(snapshot_id)s
), linked AS (
    UPDATE pvp_leaderboard_entries e SET equipment_snapshot_id = latest.equipment_id
    FROM latest
    WHERE e.snapshot_id = %(snapshot_id)s AND e.character_pk = latest.character_pk
      AND latest.equipment_id IS NOT NULL AND e.equipment_snapshot_id IS DISTINCT FROM latest.equipment_id
    RETURNING 1
), processed AS (
    UPDATE pvp_leaderboards SET equipment_processed_at = now()
    WHERE id = %(snapshot_id)s AND %(complete)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM linked), EXISTS (SELECT FROM processed)
"""  # noqa: E501
