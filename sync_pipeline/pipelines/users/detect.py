"""One detector tick: list the window, fingerprint, classify, and group the changes into runs.

    detection = await detect_changes(pool, list_client, cursor, settings, partition_of, now)
    for group in detection.groups:
        ...  # one worker run each: group.partition, group.ids, group.run_key

On an empty table (a fresh install, or one emptied to start over, whatever the cursor) a tick
bootstraps instead (`bootstrap.py`): it lists every user, stores the summaries and queues every
detail for the backfill, so turning the sensor on first thing never asks for 50,000 details at
once.

A tick reads at most `max_pages` pages. When the window holds more, it is cut at the
`updated_at` of the last user read: users stamped before it are handled now, the rest (those
at that very stamp included) by the next tick, so a tick after a long outage stays short and
the backlog drains tick by tick. Should a whole budget of pages hold no stamp past the cursor
(a burst of updates sharing one timestamp), more pages are read until one does: a tick always
makes progress. An unstable walk (users left the window while it was read, see `listing.py`)
is walked again, up to `walk_attempts` times; if it stays unstable its changes are still asked
for but the cursor does not move, so the next tick lists the same window again.

Run keys are `users-<tick>-<cursor digest>-<day>-<n>-<digest of the ids>`: a tick evaluated again
from the same cursor asks for the versions it recorded under the same keys (see `compare.py`),
and a detector whose cursor was reset never reuses the key of an earlier run.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import xxhash
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.fingerprint import FingerprintError
from sync_pipeline.engine.http import ApiClient
from sync_pipeline.entities.users import summary_fingerprint
from sync_pipeline.pipelines.users.bootstrap import (
    BootstrapOutcome,
    bootstrap_users,
    table_is_empty,
)
from sync_pipeline.pipelines.users.compare import Classification, Seen, classify, record_requests
from sync_pipeline.pipelines.users.listing import SummaryWalk, walk_summaries
from sync_pipeline.pipelines.users.window import DetectorCursor, Window, parse_instant

PartitionOf = Callable[[datetime | None], str]
"""The worker partition (a UTC day key) for a change's `updated_at`."""


@dataclass(frozen=True)
class DetectorSettings:
    batch_size: int = 500
    page_size: int = 500
    max_pages: int = 40
    overlap: timedelta = timedelta(minutes=2)
    max_span: timedelta = timedelta(days=7)
    walk_attempts: int = 3


@dataclass(frozen=True)
class RunGroup:
    """One worker run to ask for: a partition, its ids (sorted) and a deterministic run key."""

    partition: str
    ids: list[int]
    run_key: str
    repeated: bool = False


@dataclass
class Detection:
    window: Window
    cursor: DetectorCursor
    walk: SummaryWalk
    classification: Classification
    seen: int
    groups: list[RunGroup] = field(default_factory=list)
    unfingerprintable: int = 0
    elapsed_s: float = 0.0
    bootstrap: BootstrapOutcome | None = None

    @property
    def requested(self) -> int:
        return sum(len(g.ids) for g in self.groups)

    def summary(self) -> str:
        if self.bootstrap is not None:
            b = self.bootstrap
            return (
                f"bootstrap of an empty table: {self.seen} users listed in "
                f"{self.window.describe()}, {b.inserted} stored from the list with their detail "
                f"queued for the backfill, {b.quarantined} quarantined"
            )
        counts = self.classification.counts
        return (
            f"{self.seen} users seen in {self.window.describe()}: {counts['changed']} changed, "
            f"{counts['touched']} touch-only, {counts['unchanged']} unchanged, "
            f"{counts['requested']} already requested; {self.requested} ids in "
            f"{len(self.groups)} run(s)"
        )


async def detect_changes(
    pool: ConnectionPool,
    client: ApiClient,
    cursor: DetectorCursor,
    settings: DetectorSettings,
    partition_of: PartitionOf,
    now: datetime,
) -> Detection:
    """Run one tick from `cursor`; the changes it asks for are recorded before it returns.

    Raises what the client raises and psycopg errors; nothing is recorded then.
    """
    started = time.monotonic()
    with pool.connection() as conn:
        empty = table_is_empty(conn)
    if empty:
        return await _bootstrap(pool, client, cursor, Window(None, now), settings, now, started)
    window = cursor.window(now, settings.overlap, settings.max_span)
    walk = await _stable_walk(client, window, cursor, settings)
    cut = None if walk.complete else walk.last_stamp()
    seen, unfingerprintable = fingerprint_summaries(walk, cut)
    tick = cursor.next_tick
    tick_key = f"users-{tick}-{xxhash.xxh3_64_hexdigest(cursor.to_json().encode())[:8]}-"
    with pool.connection() as conn:
        classification = classify(conn, seen, tick_key)
        groups = _new_groups(
            seen, classification.changed, tick_key, settings.batch_size, partition_of
        )
        by_id = {s.id: s for s in seen}
        requested = [(by_id[user_id], group.run_key) for group in groups for user_id in group.ids]
        record_requests(conn, requested, classification.caught_up, tick)
    groups += _repeated_groups(classification, partition_of)
    new_hwm = (window.until if walk.complete else cut) if walk.stable else None
    return Detection(
        window,
        cursor.advanced(new_hwm, now),
        walk,
        classification,
        len(seen),
        groups,
        unfingerprintable,
        time.monotonic() - started,
    )


async def _bootstrap(
    pool: ConnectionPool,
    client: ApiClient,
    cursor: DetectorCursor,
    window: Window,
    settings: DetectorSettings,
    now: datetime,
    started: float,
) -> Detection:
    """An empty table: every user from the list, details queued for the backfill instead of
    asked for (see `bootstrap.py`). A stable walk moves the cursor to its end; an unstable one
    leaves a fresh cursor, so the next tick lists every user again and asks for what was missed."""
    run_id = f"users-bootstrap-{cursor.next_tick}"
    outcome = await bootstrap_users(
        pool,
        client,
        window,
        run_id,
        page_size=settings.page_size,
        walk_attempts=settings.walk_attempts,
    )
    advanced = cursor.advanced(window.until, now)
    return Detection(
        window,
        advanced if outcome.walk.stable else DetectorCursor(tick=advanced.tick),
        outcome.walk,
        Classification(),
        len(outcome.walk.summaries),
        bootstrap=outcome,
        elapsed_s=time.monotonic() - started,
    )


async def _stable_walk(
    client: ApiClient, window: Window, cursor: DetectorCursor, settings: DetectorSettings
) -> SummaryWalk:
    for _ in range(settings.walk_attempts):
        walk = await walk_summaries(client, window, settings.page_size, settings.max_pages)
        while not walk.complete and not _progresses(walk.last_stamp(), cursor, walk):
            walk = await walk_summaries(
                client, window, settings.page_size, settings.max_pages, walk
            )
        if walk.stable:
            return walk
    return walk


def _progresses(stamp: datetime | None, cursor: DetectorCursor, walk: SummaryWalk) -> bool:
    """Whether cutting the window at `stamp` moves the cursor forward and keeps some users."""
    if stamp is None:
        return False
    first = next((parse_instant(s.get("updated_at")) for s in walk.summaries.values()), None)
    return (cursor.hwm is None or stamp > cursor.hwm) and (first is None or stamp > first)


def fingerprint_summaries(walk: SummaryWalk, cut: datetime | None = None) -> tuple[list[Seen], int]:
    """The summaries stamped before `cut` (all when None), fingerprinted, and how many could not
    be."""
    seen: list[Seen] = []
    failed = 0
    for user_id, summary in walk.summaries.items():
        stamp = parse_instant(summary.get("updated_at"))
        if cut is not None and stamp is not None and stamp >= cut:
            continue
        try:
            seen.append(Seen(user_id, summary_fingerprint(summary), stamp))
        except FingerprintError:
            failed += 1
    return seen, failed


def _new_groups(
    seen: list[Seen], changed: list[int], tick_key: str, batch_size: int, partition_of: PartitionOf
) -> list[RunGroup]:
    stamps = {s.id: s.updated_at for s in seen}
    by_partition: dict[str, list[int]] = defaultdict(list)
    for user_id in changed:
        by_partition[partition_of(stamps[user_id])].append(user_id)
    groups = []
    for partition in sorted(by_partition):
        ids = sorted(by_partition[partition])
        for number, start in enumerate(range(0, len(ids), batch_size)):
            chunk = ids[start : start + batch_size]
            groups.append(RunGroup(partition, chunk, run_key(tick_key, partition, number, chunk)))
    return groups


def _repeated_groups(classification: Classification, partition_of: PartitionOf) -> list[RunGroup]:
    by_key: dict[str, list] = defaultdict(list)
    for repeat in classification.repeats:
        by_key[repeat.run_key].append(repeat)
    return [
        RunGroup(
            partition_of(repeats[0].updated_at), sorted(r.id for r in repeats), key, repeated=True
        )
        for key, repeats in sorted(by_key.items())
    ]


def run_key(tick_key: str, partition: str, number: int, ids: list[int]) -> str:
    """`<tick_key><day>-<n>-<digest of the ids>`."""
    digest = xxhash.xxh3_64_hexdigest(",".join(map(str, ids)).encode())[:12]
    return f"{tick_key}{partition}-{number}-{digest}"
