"""One leaderboard: fetched whole, then stored with its characters in two statements.

`write_board` runs one transaction: the snapshot row (found again when the same snapshot was
stored before, which makes a re-run a no-op), then a single statement that upserts every
character (returning ids, logging name and realm changes) and inserts every entry, linked to
the character's latest equipment snapshot. Entries that cannot be typed go to the quarantine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient, NotFound
from sync_pipeline.engine.quarantine import quarantine_records
from sync_pipeline.engine.records import RecordRejected, Rejection, raw_json
from sync_pipeline.engine.statement_count import StatementCounter, counting
from sync_pipeline.engine.transactions import TransactionRetry, in_transaction
from sync_pipeline.entities.pvp import (
    BRACKETS,
    PVP_LEADERBOARD_ENTRIES,
    REGIONS,
    EntryRow,
    parse_entry,
)


class LeaderboardMissing(LookupError):
    """The API has no such leaderboard (404): a wrong region, bracket or base URL."""


@dataclass(frozen=True)
class Board:
    """One leaderboard: a region and a bracket (a Dagster partition)."""

    region: str
    bracket: str

    def __post_init__(self) -> None:
        if self.region not in REGIONS or self.bracket not in BRACKETS:
            raise ValueError(
                f"no leaderboard {self.region}/{self.bracket}; regions {REGIONS}, "
                f"brackets {BRACKETS}"
            )

    @property
    def label(self) -> str:
        return f"{self.region}|{self.bracket}"

    @property
    def path(self) -> str:
        return f"/pvp/{self.region}/leaderboards/{self.bracket}"


ALL_BOARDS = tuple(Board(region, bracket) for region in REGIONS for bracket in BRACKETS)


@dataclass
class FetchedBoard:
    board: Board
    season: int
    snapshot_at: datetime
    rows: list[EntryRow]
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class BoardWrite:
    """What storing one snapshot did. `created` False: the snapshot was already stored."""

    snapshot_id: int
    snapshot_at: datetime
    created: bool
    equipment_processed: bool
    entries: int = 0
    characters_inserted: int = 0
    characters_updated: int = 0
    renames_logged: int = 0
    quarantined: int = 0
    statements: int = 0
    db_seconds: float = 0.0


async def fetch_board(client: ApiClient, board: Board) -> FetchedBoard:
    """The whole leaderboard, typed; raises `LeaderboardMissing` on 404, or what the client
    raises."""
    response = await client.get_json(board.path, parse=lambda body: parse_board(board, body))
    if isinstance(response, NotFound):
        raise LeaderboardMissing(f"{board.path}: {response.code or 'not found'}")
    return response.data


def parse_board(board: Board, body: Any) -> FetchedBoard:
    """Type every entry; a bad entry is set aside with its reason, a bad envelope raises
    `ValueError` (the client retries it as a malformed body)."""
    if type(body) is not dict or type(body.get("entries")) is not list:
        raise ValueError("leaderboard body without an entries list")
    if (body.get("region"), body.get("bracket")) != (board.region, board.bracket):
        raise ValueError(f"asked for {board.label}, got {body.get('region')}|{body.get('bracket')}")
    season, snapshot_at = body.get("season"), datetime.fromisoformat(body["snapshot_at"])
    if type(season) is not int or snapshot_at.tzinfo is None:
        raise ValueError("leaderboard season or snapshot_at of the wrong type")
    fetched = FetchedBoard(board, season, snapshot_at, [])
    seen: set[int] = set()
    for entry in body["entries"]:
        try:
            row = parse_entry(entry)
        except RecordRejected as exc:
            key = entry.get("rank") if type(entry) is dict else None
            fetched.rejected.append(
                Rejection(None if key is None else str(key), str(exc), raw_json(entry))
            )
            continue
        if row.character_id in seen:
            fetched.duplicates += 1
            continue
        seen.add(row.character_id)
        fetched.rows.append(row)
    return fetched


def write_board(
    pool: ConnectionPool, fetched: FetchedBoard, run_id: str, retry: TransactionRetry | None = None
) -> BoardWrite:
    """Store the snapshot, its characters and entries in one transaction (retried on deadlock)."""
    counter = StatementCounter()

    def work(conn: psycopg.Connection) -> BoardWrite:
        with counting(conn, counter):
            return _write(conn, fetched, run_id)

    started = time.perf_counter()
    written = in_transaction(pool, work, retry)
    written.statements, written.db_seconds = counter.statements, time.perf_counter() - started
    return written


def _write(conn: psycopg.Connection, fetched: FetchedBoard, run_id: str) -> BoardWrite:
    board = fetched.board
    snapshot_id, created, processed = conn.execute(
        _SNAPSHOT,
        {
            "region": board.region,
            "bracket": board.bracket,
            "season": fetched.season,
            "snapshot_at": fetched.snapshot_at,
            "entries": len(fetched.rows),
            "run_id": run_id,
        },
    ).fetchone()
    written = BoardWrite(snapshot_id, fetched.snapshot_at, created, processed is not None)
    if not created:
        return written
    rows = fetched.rows
    columns = list(
        zip(
            *[
                (
                    r.character_id,
                    r.name,
                    r.realm,
                    r.character_class,
                    r.spec,
                    r.faction,
                    r.character_extra,
                    r.rank,
                    r.rating,
                    r.played,
                    r.won,
                    r.lost,
                    r.entry_extra,
                )
                for r in rows
            ]
        )
    ) or [[] for _ in _INPUT_NAMES]
    params = dict(zip(_INPUT_NAMES, map(list, columns)))
    params.update(region=board.region, run_id=run_id, snapshot_id=snapshot_id)
    (
        written.characters_inserted,
        written.characters_updated,
        written.renames_logged,
        written.entries,
    ) = conn.execute(_CHARACTERS_AND_ENTRIES, params).fetchone()
    if fetched.rejected:
        written.quarantined = quarantine_records(
            conn, PVP_LEADERBOARD_ENTRIES, run_id, fetched.rejected
        )
    return written


_SNAPSHOT = """
WITH created AS (
    INSERT INTO pvp_leaderboards (region, bracket, season, snapshot_at, entries, last_run_id)
    VALUES (%(region)s, %(bracket)s, %(season)s, %(snapshot_at)s, %(entries)s, %(run_id)s)
    ON CONFLICT (region, bracket, snapshot_at) DO NOTHING
    RETURNING id
)
SELECT id, true, NULL::timestamptz FROM created
UNION ALL
SELECT id, false, equipment_processed_at FROM pvp_leaderboards
WHERE region = %(region)s AND bracket = %(bracket)s AND snapshot_at = %(snapshot_at)s
  AND NOT EXISTS (SELECT FROM created)
"""

_INPUT_NAMES = (
    "character_id",
    "name",
    "realm",
    "class",
    "spec",
    "faction",
    "character_extra",
    "rank",
    "rating",
    "played",
    "won",
    "lost",
    "entry_extra",
)

# Characters are locked in character_id order (by the upsert), so concurrent boards of a region
# queue behind each other instead of deadlocking. `before` holds the stored names: data-modifying
# CTEs all see the snapshot taken before the statement, so a character another board inserted
# meanwhile is not in it; the upsert then returns it (a no-op update) to give its id.
_CHARACTERS_AND_ENTRIES = """
WITH input AS (
    SELECT * FROM unnest(%(character_id)s::bigint[], %(name)s::text[], %(realm)s::text[],
                         %(class)s::text[], %(spec)s::text[], %(faction)s::text[],
                         %(character_extra)s::jsonb[], %(rank)s::int[], %(rating)s::int[],
                         %(played)s::int[], %(won)s::int[], %(lost)s::int[], %(entry_extra)s::jsonb[])
        AS i (character_id, name, realm, class, spec, faction, character_extra, rank, rating,
              played, won, lost, entry_extra)
), before AS (
    SELECT c.id, c.character_id, c.name, c.realm
    FROM pvp_characters c JOIN input i USING (character_id)
    WHERE c.region = %(region)s
), upserted AS (
    INSERT INTO pvp_characters AS t (character_id, region, name, realm, class, spec, faction, extra,
                                     last_run_id)
    SELECT character_id, %(region)s, name, realm, class, spec, faction, character_extra, %(run_id)s
    FROM input ORDER BY character_id
    ON CONFLICT (character_id, region) DO UPDATE SET
        name = EXCLUDED.name, realm = EXCLUDED.realm, class = EXCLUDED.class, spec = EXCLUDED.spec,
        faction = EXCLUDED.faction, extra = EXCLUDED.extra,
        is_private = t.is_private AND t.name = EXCLUDED.name AND t.realm = EXCLUDED.realm,
        not_found_at = CASE WHEN t.name = EXCLUDED.name AND t.realm = EXCLUDED.realm
                            THEN t.not_found_at END,
        synced_at = now(), last_run_id = EXCLUDED.last_run_id
    WHERE (t.name, t.realm, t.class, t.spec, t.faction, t.extra)
          IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.realm, EXCLUDED.class, EXCLUDED.spec,
                            EXCLUDED.faction, EXCLUDED.extra)
       OR NOT EXISTS (SELECT FROM before b WHERE b.id = t.id)
    RETURNING t.id, t.character_id, t.xmax = 0 AS inserted
), ids AS (
    SELECT i.*, coalesce(u.id, b.id) AS character_pk, coalesce(u.inserted, false) AS inserted,
           u.id IS NOT NULL AND NOT u.inserted AS updated
    FROM input i LEFT JOIN upserted u USING (character_id) LEFT JOIN before b USING (character_id)
), logged AS (
    INSERT INTO sync_change_log (run_id, entity, record_key, column_name, old_value, new_value)
    SELECT %(run_id)s, 'pvp_characters', jsonb_build_array(i.character_id, %(region)s)::text,
           c.column_name, c.old_value, c.new_value
    FROM before b JOIN input i USING (character_id)
    CROSS JOIN LATERAL (VALUES ('name', to_jsonb(b.name), to_jsonb(i.name)),
                               ('realm', to_jsonb(b.realm), to_jsonb(i.realm)))
        AS c (column_name, old_value, new_value)
    WHERE c.old_value IS DISTINCT FROM c.new_value
    RETURNING 1
), entries AS (
    INSERT INTO pvp_leaderboard_entries (snapshot_id, character_pk, rank, rating, played, won, lost,
                                         extra, equipment_snapshot_id)
    SELECT %(snapshot_id)s, ids.character_pk, ids.rank, ids.rating, ids.played, ids.won, ids.lost,
           ids.entry_extra, latest.id
    FROM ids LEFT JOIN LATERAL (
        SELECT q.id FROM pvp_equipment_snapshots q WHERE q.character_pk = ids.character_pk
        ORDER BY q.fetched_at DESC LIMIT 1) latest ON true
    ORDER BY ids.character_pk
    ON CONFLICT (snapshot_id, character_pk) DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM ids WHERE inserted), (SELECT count(*) FROM ids WHERE updated),
       (SELECT count(*) FROM logged), (SELECT count(*) FROM entries)
"""  # noqa: E501
