"""The pvp tables against the upstream's boards and equipment, record by record.

A board's latest stored snapshot must hold every entry the upstream serves (rank, rating, stats
and character), except the entries PostgreSQL cannot type, which must be quarantined; every
public character must wear exactly the upstream's equipment; a private one must be flagged.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

from sync_pipeline.engine.sanitize import strip_nul
from sync_pipeline.pipelines.pvp.leaderboard import Board
from sync_pipeline.upstream.data.oddities import oddity_of
from sync_pipeline_tests.reliability.truth import Comparison

ENTRY_SQL = """
SELECT e.rank, e.rating, e.played, e.won, e.lost,
       c.character_id, c.name, c.realm, c.class, c.spec, c.faction
FROM pvp_leaderboard_entries e
JOIN pvp_characters c ON c.id = e.character_pk
WHERE e.snapshot_id = (
    SELECT id FROM pvp_leaderboards WHERE region = %s AND bracket = %s
    ORDER BY snapshot_at DESC LIMIT 1)
"""
EQUIPPED_SQL = """
SELECT c.character_id, c.is_private, i.slot, i.item_id, i.item_level, i.enchantments
FROM pvp_characters c LEFT JOIN pvp_equipped_items i ON i.character_pk = c.id
WHERE c.region = %s
"""


def read_board(base_url: str, board: Board) -> dict[str, Any]:
    """The board's entries and the equipment (or 404 code) of each of its characters."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        body = http.get(f"/pvp/{board.region}/leaderboards/{board.bracket}").json()
        equipment = {}
        for entry in body["entries"]:
            character = entry["character"]
            if not isinstance(character.get("name"), str):
                continue
            path = (
                f"/characters/{board.region}/{quote(character['realm'], safe='')}/"
                f"{quote(character['name'].lower(), safe='')}/equipment"
            )
            answer = http.get(path)
            equipment[character["id"]] = (
                answer.json() if answer.status_code == 200 else answer.json()["error"]["code"]
            )
    return {"entries": body["entries"], "equipment": equipment}


def compare_board(
    conn: psycopg.Connection, board: Board, truth: dict[str, Any], seed: int, run_id: str
) -> tuple[Comparison, Comparison]:
    """(entries, equipment) comparisons of one board, synced by run `run_id`."""
    quarantined = _quarantined_characters(conn, run_id)
    entries = _compare_entries(conn, board, truth["entries"], seed, quarantined)
    return entries, _compare_equipment(conn, board, truth["equipment"], quarantined)


def _quarantined_characters(conn: psycopg.Connection, run_id: str) -> set[int]:
    """Ids of the characters whose entry run `run_id` quarantined."""
    raws = conn.execute(
        "SELECT raw_json FROM sync_quarantine "
        "WHERE entity = 'pvp_leaderboard_entries' AND run_id = %s",
        (run_id,),
    ).fetchall()
    return {json.loads(raw)["character"]["id"] for (raw,) in raws}


def _compare_entries(
    conn: psycopg.Connection,
    board: Board,
    served: list[dict[str, Any]],
    seed: int,
    quarantined: set[int],
) -> Comparison:
    rows = conn.execute(ENTRY_SQL, (board.region, board.bracket)).fetchall()
    stored: dict[int, list[tuple]] = {}
    for row in rows:
        stored.setdefault(row[0], []).append(row)
    outcome = Comparison("pvp_leaderboard_entries", compared=len(served))
    outcome.duplicated = [(rank,) for rank, found in stored.items() if len(found) > 1]
    served_ranks = {entry["rank"] for entry in served}
    outcome.undeleted = [(rank,) for rank in stored if rank not in served_ranks]
    for raw in served:
        entry = strip_nul(raw)[0]
        odd = oddity_of(seed, "pvp", entry["character"]["id"]) == "wrong_type"
        if entry["character"]["id"] in quarantined:
            outcome.quarantined += 1
            if not odd:
                outcome.quarantined_storable.append((entry["rank"],))
            continue
        found = stored.get(entry["rank"])
        if not found:
            outcome.missing.append((entry["rank"],))
            continue
        character, stats = entry["character"], entry["stats"]
        expected = (
            entry["rank"],
            entry["rating"],
            stats["played"],
            stats["won"],
            stats["lost"],
            character["id"],
            character["name"],
            character["realm"],
            character.get("class"),
            character.get("spec"),
            character.get("faction"),
        )
        if found[0] != expected:
            outcome.stale.append(((entry["rank"],), "entry", found[0], expected))
    return outcome


def _compare_equipment(
    conn: psycopg.Connection, board: Board, served: dict[int, Any], quarantined: set[int]
) -> Comparison:
    worn: dict[int, set[tuple]] = {}
    private: dict[int, bool] = {}
    for cid, is_private, slot, item_id, level, enchantments in conn.execute(
        EQUIPPED_SQL, (board.region,)
    ).fetchall():
        private[cid] = is_private
        if slot is not None:
            worn.setdefault(cid, set()).add((slot, item_id, level, tuple(enchantments)))
    outcome = Comparison("pvp_equipped_items", compared=0)
    for cid, answer in served.items():
        if cid in quarantined:
            continue  # its entry was not stored, so neither is its equipment
        if answer == "character_private":
            if not private.get(cid):
                outcome.stale.append(((cid,), "is_private", private.get(cid), True))
            continue
        if not isinstance(answer, dict):
            continue
        expected = {
            (i["slot"], i["item"]["id"], i["item"].get("item_level"), tuple(i["enchantments"]))
            for i in answer["equipped_items"]
        }
        outcome.compared += len(expected)
        have = worn.get(cid, set())
        outcome.missing += [(cid, slot) for slot, *_ in expected - have]
        if have != expected and have - expected:
            outcome.stale.append(((cid,), "equipment", sorted(have), sorted(expected)))
    return outcome
