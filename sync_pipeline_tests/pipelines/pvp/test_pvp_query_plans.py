"""Each of the four pvp indexes (sql/008_pvp.sql), and the unique key on snapshot time, is the
plan PostgreSQL picks for the query it was made for, on tables filled to a realistic shape
(16 boards x 5 syncs of 600 entries)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from sync_pipeline.db.scratch import create_database, drop_database
from sync_pipeline.pipelines.pvp import equipment, stored, sync

FILL = """
INSERT INTO pvp_characters (character_id, region, name, realm, is_private, last_run_id)
SELECT g, r.region, 'c' || g, 'realm', g % 33 = 0, 'fill'
FROM generate_series(1, 4000) g CROSS JOIN (VALUES ('us'), ('eu'), ('kr'), ('tw')) r (region);
INSERT INTO pvp_leaderboards (region, bracket, season, snapshot_at, entries, equipment_processed_at,
                              last_run_id)
SELECT r, b, 41, now() - make_interval(hours => s), 600, now() - make_interval(hours => s), 'fill'
FROM unnest(ARRAY['us', 'eu', 'kr', 'tw']) r, unnest(ARRAY['2v2', '3v3', 'rbg', 'shuffle']) b,
     generate_series(1, 5) s;
INSERT INTO pvp_leaderboard_entries (snapshot_id, character_pk, rank, rating, played, won, lost)
SELECT l.id, c.id, c.character_id, 2000, 100 + l.id % 7, 50, 50
FROM pvp_leaderboards l JOIN pvp_characters c ON c.region = l.region AND c.character_id <= 600;
INSERT INTO pvp_equipment_snapshots (character_pk, fetched_at, played, fingerprint, items, last_run_id)
SELECT c.id, now() - make_interval(hours => k), 100, decode(md5(c.id::text), 'hex'), 16, 'fill'
FROM pvp_characters c, generate_series(1, 3) k;
ANALYZE pvp_characters, pvp_leaderboards, pvp_leaderboard_entries, pvp_equipment_snapshots;
"""  # noqa: E501


@pytest.fixture(scope="module")
def filled(pg_server, template_db) -> Iterator[psycopg.Connection]:
    url = create_database(pg_server, "sync_test_pvp_plans", template=template_db)
    try:
        with psycopg.connect(url.conninfo(), autocommit=True) as conn:
            conn.execute(FILL)
            yield conn
    finally:
        drop_database(pg_server, url.database)


def plan(db, query: str, params) -> str:
    return "\n".join(row[0] for row in db.execute("EXPLAIN " + query, params).fetchall())


def latest_snapshot_id(db, region: str, bracket: str) -> int:
    return db.execute(
        "SELECT max(id) FROM pvp_leaderboards WHERE region = %s AND bracket = %s", (region, bracket)
    ).fetchone()[0]


def test_the_equipment_plan_reads_latest_entries_and_equipment_by_index(filled):
    params = {
        "snapshot_id": latest_snapshot_id(filled, "eu", "3v3"),
        "region": "eu",
        "bracket": "3v3",
    }
    text = plan(filled, equipment._PLAN, params)
    assert "pvp_entries_character_latest_idx" in text
    assert "pvp_equipment_snapshots_latest_idx" in text


def test_the_coverage_check_finds_the_latest_processed_snapshot_by_index(filled):
    params = {"region": "kr", "bracket": "rbg", "max_age": timedelta(hours=24)}
    assert "pvp_leaderboards_processed_idx" in plan(filled, stored._COVERAGE, params)


def test_private_characters_are_counted_by_index(filled):
    assert "pvp_characters_private_idx" in plan(filled, stored._PRIVATE, ("tw",))
    assert stored.private_characters(filled, "tw") == 4000 // 33


def test_the_latest_snapshot_of_a_board_is_found_by_snapshot_time(filled):
    text = plan(filled, sync.LATEST_SNAPSHOT, ("us", "shuffle"))
    assert "pvp_leaderboards_region_bracket_snapshot_at_key" in text and "Sort" not in text
