"""The pvp pipeline against the reference upstream and a real PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from sync_pipeline.engine.transactions import TransactionRetry, in_transaction
from sync_pipeline.pipelines.pvp.leaderboard import Board, fetch_board, write_board
from sync_pipeline.pipelines.pvp.sync import sync_boards, sync_equipment, sync_leaderboard
from sync_pipeline_tests.pipelines.pvp.conftest import (
    ENTRIES,
    SETTINGS,
    equipment_requests,
    new_run_id,
    run_with_client,
)

BOARD_DEADLOCK_CHECK_S = 3
EU = [Board("eu", bracket) for bracket in ("2v2", "3v3", "rbg", "shuffle")]


def sync_all(upstream, pool, boards, settings=SETTINGS):
    return run_with_client(
        upstream, lambda client: sync_boards(pool, client, boards, new_run_id(), settings)
    )


def public_found(db, character_ids) -> set[int]:
    rows = db.execute(
        "SELECT character_id FROM pvp_characters WHERE character_id = ANY(%s) "
        "AND NOT is_private AND not_found_at IS NULL",
        (list(character_ids),),
    ).fetchall()
    return {cid for (cid,) in rows}


def test_a_leaderboard_is_stored_in_a_bounded_number_of_statements(pvp_upstream, pool, db):
    outcome = run_with_client(
        pvp_upstream, lambda c: sync_leaderboard(pool, c, Board("us", "3v3"), new_run_id())
    )
    assert outcome.write.created and outcome.write.entries == ENTRIES
    assert outcome.write.statements <= 3
    stored = db.execute(
        "SELECT count(*), count(DISTINCT rank), min(rank), max(rank) FROM pvp_leaderboard_entries"
    ).fetchone()
    assert stored == (ENTRIES, ENTRIES, 1, ENTRIES)


def test_rerunning_a_snapshot_is_idempotent(pvp_upstream, pool, db):
    board = Board("kr", "2v2")
    first = run_with_client(pvp_upstream, lambda c: sync_leaderboard(pool, c, board, new_run_id()))
    run_with_client(pvp_upstream, lambda c: sync_equipment(pool, c, board, new_run_id(), SETTINGS))
    before = db.execute(
        "SELECT (SELECT count(*) FROM pvp_leaderboards), (SELECT count(*) FROM "
        "pvp_leaderboard_entries), (SELECT count(*) FROM pvp_characters), "
        "(SELECT count(*) FROM pvp_equipment_snapshots)"
    ).fetchone()
    calls = equipment_requests(pvp_upstream)
    again = run_with_client(pvp_upstream, lambda c: sync_leaderboard(pool, c, board, new_run_id()))
    equipment = run_with_client(
        pvp_upstream, lambda c: sync_equipment(pool, c, board, new_run_id(), SETTINGS)
    )
    after = db.execute(
        "SELECT (SELECT count(*) FROM pvp_leaderboards), (SELECT count(*) FROM "
        "pvp_leaderboard_entries), (SELECT count(*) FROM pvp_characters), "
        "(SELECT count(*) FROM pvp_equipment_snapshots)"
    ).fetchone()
    assert not again.write.created and again.write.snapshot_id == first.write.snapshot_id
    assert again.write.statements == 1
    assert after == before
    assert equipment_requests(pvp_upstream) == calls and equipment.fetched == 0


def test_a_character_on_two_brackets_is_fetched_once(pvp_upstream, pool, db):
    outcomes = sync_all(pvp_upstream, pool, EU)
    on_boards = db.execute(
        "SELECT character_pk, count(*) FROM pvp_leaderboard_entries GROUP BY 1"
    ).fetchall()
    assert any(boards >= 2 for _, boards in on_boards)
    requests = equipment_requests(pvp_upstream)
    assert requests == len(on_boards)
    assert sum(o.equipment.requests for o in outcomes) == requests
    assert all(o.equipment.processed for o in outcomes)
    unlinked = db.execute(
        "SELECT count(*) FROM pvp_leaderboard_entries e JOIN pvp_characters c "
        "ON c.id = e.character_pk WHERE NOT c.is_private AND c.not_found_at IS NULL "
        "AND e.equipment_snapshot_id IS NULL"
    ).fetchone()[0]
    assert unlinked == 0


def test_a_resync_fetches_exactly_the_characters_that_played(pvp_upstream, pool, db):
    sync_all(pvp_upstream, pool, EU)
    pvp_upstream.admin("stats/reset", {})
    mutation = pvp_upstream.admin("mutate", {"source": "pvp", "update": 0.05})
    eu_ids = {
        cid for (cid,) in db.execute("SELECT character_id FROM pvp_characters WHERE region = 'eu'")
    }
    played = public_found(db, set(mutation["updated"]) & eu_ids)
    outcomes = sync_all(pvp_upstream, pool, EU)
    assert played and equipment_requests(pvp_upstream) == len(played)
    assert sum(o.equipment.fetched for o in outcomes) == len(played)


def test_private_characters_are_never_fetched_twice(pvp_upstream, pool, db):
    sync_all(pvp_upstream, pool, EU)
    private = db.execute("SELECT count(*) FROM pvp_characters WHERE is_private").fetchone()[0]
    gone = db.execute(
        "SELECT count(*) FROM pvp_characters WHERE not_found_at IS NOT NULL"
    ).fetchone()[0]
    assert private > 0 and gone > 0
    pvp_upstream.admin("stats/reset", {})
    stale = replace(SETTINGS, equipment_max_age=timedelta(0))
    outcomes = sync_all(pvp_upstream, pool, EU, stale)
    public = db.execute(
        "SELECT count(*) FROM pvp_characters WHERE NOT is_private AND not_found_at IS NULL"
    ).fetchone()[0]
    assert equipment_requests(pvp_upstream) == public
    assert sum(o.equipment.skipped_private for o in outcomes) >= private
    assert sum(o.equipment.became_private + o.equipment.became_not_found for o in outcomes) == 0


def test_unchanged_equipment_is_not_rewritten(pvp_upstream, pool, db):
    sync_all(pvp_upstream, pool, EU)
    before = db.execute(
        "SELECT character_pk, slot, xmin::text FROM pvp_equipped_items ORDER BY 1, 2"
    ).fetchall()
    snapshots = db.execute("SELECT count(*) FROM pvp_equipment_snapshots").fetchone()[0]
    outcomes = sync_all(pvp_upstream, pool, EU, replace(SETTINGS, equipment_max_age=timedelta(0)))
    after = db.execute(
        "SELECT character_pk, slot, xmin::text FROM pvp_equipped_items ORDER BY 1, 2"
    ).fetchall()
    assert sum(o.equipment.fetched for o in outcomes) > 0
    assert db.execute("SELECT count(*) FROM pvp_equipment_snapshots").fetchone()[0] > snapshots
    assert after == before
    assert sum(o.equipment.slots_written + o.equipment.slots_removed for o in outcomes) == 0


def test_a_deadlock_is_retried_and_succeeds(pvp_upstream, db_url, db):
    # A real deadlock: another transaction holds a new character of the board (so the board's
    # upsert waits for it), then inserts the board's snapshot row (so it waits for the board's
    # transaction). The board's session looks for deadlocks after 3 s of waiting, the other's
    # after 60 s, so PostgreSQL aborts the board's transaction (the other must join the cycle
    # within those 3 s); the retry passes once the other transaction is gone.
    board = Board("tw", "rbg")
    fetched = run_with_client(pvp_upstream, lambda c: fetch_board(c, board))
    character = fetched.rows[0]
    retry = TransactionRetry(backoff_base_s=0.01)
    deadlocks_before = deadlocks(db)
    with (
        ConnectionPool(
            db_url.conninfo(),
            min_size=1,
            max_size=2,
            kwargs={"options": f"-c deadlock_timeout={BOARD_DEADLOCK_CHECK_S}s"},
        ) as pool,
        psycopg.connect(db_url.conninfo()) as other,
        ThreadPoolExecutor(1) as threads,
    ):
        other.execute("SET deadlock_timeout = '60s'")
        other.execute(
            "INSERT INTO pvp_characters (character_id, region, name, realm, last_run_id) "
            "VALUES (%s, 'tw', %s, %s, 'other')",
            (character.character_id, character.name, character.realm),
        )
        writing = threads.submit(write_board, pool, fetched, new_run_id(), retry)
        wait_until_blocked_by(db, other.info.backend_pid)
        other.execute(
            "INSERT INTO pvp_leaderboards (region, bracket, season, snapshot_at, entries, "
            "last_run_id) VALUES ('tw', 'rbg', %s, %s, 0, 'other') ON CONFLICT DO NOTHING",
            (fetched.season, fetched.snapshot_at),
        )
        other.rollback()
        written = writing.result(timeout=60)
    assert retry.retries == 1
    assert written.created and written.entries == ENTRIES
    assert wait_for_deadlocks(db, deadlocks_before + 1) == deadlocks_before + 1
    assert db.execute("SELECT count(*) FROM pvp_leaderboard_entries").fetchone()[0] == ENTRIES
    assert db.execute("SELECT count(*) FROM pvp_leaderboards").fetchone()[0] == 1


def wait_until_blocked_by(db, pid: int, timeout_s: float = 30.0) -> None:
    """Until some session of the database waits for a lock `pid` holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        blocked = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (pid,)
        ).fetchone()[0]
        if blocked:
            return
        time.sleep(0.02)
    raise AssertionError(f"no session waited for backend {pid} within {timeout_s} s")


def deadlocks(db) -> int:
    db.execute("SELECT pg_stat_clear_snapshot()")
    return db.execute(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()[0]


def wait_for_deadlocks(db, expected: int, timeout_s: float = 10.0) -> int:
    """PostgreSQL's count of deadlocks in the database, once it reaches `expected` (the
    statistics are flushed a little after the fact) or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while (count := deadlocks(db)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return count


def test_only_deadlocks_and_serialization_failures_are_retried(pool):
    retry = TransactionRetry(backoff_base_s=0.001)
    with pytest.raises(psycopg.errors.UniqueViolation):
        in_transaction(
            pool, lambda conn: conn.execute("DO $$ BEGIN RAISE unique_violation; END $$"), retry
        )
    assert retry.retries == 0
    with pytest.raises(psycopg.errors.SerializationFailure):
        in_transaction(
            pool,
            lambda conn: conn.execute("DO $$ BEGIN RAISE serialization_failure; END $$"),
            retry,
        )
    assert retry.retries == retry.attempts - 1


def test_name_and_realm_changes_are_logged_and_clear_the_flags(pvp_upstream, pool, db):
    # A new name or realm is a new equipment path: the private and not-found marks of the old
    # one no longer hold. A character whose name stayed keeps its mark.
    board = Board("us", "rbg")
    fetched = run_with_client(pvp_upstream, lambda c: fetch_board(c, board))
    write_board(pool, fetched, new_run_id())
    renamed, moved, kept = fetched.rows[:3]
    db.execute(
        "UPDATE pvp_characters SET is_private = true WHERE character_id = ANY(%s)",
        ([renamed.character_id, kept.character_id],),
    )
    db.execute(
        "UPDATE pvp_characters SET not_found_at = now() WHERE character_id = %s",
        (moved.character_id,),
    )
    later = replace(
        fetched,
        snapshot_at=fetched.snapshot_at + timedelta(hours=1),
        rows=[
            replace(renamed, name=renamed.name + "x"),
            replace(moved, realm="another-realm"),
            *fetched.rows[2:],
        ],
    )
    run_id = new_run_id()
    written = write_board(pool, later, run_id)
    assert (written.characters_inserted, written.characters_updated) == (0, 2)
    assert written.renames_logged == 2 and written.statements <= 3
    logged = db.execute(
        "SELECT record_key, column_name, old_value #>> '{}', new_value #>> '{}' "
        "FROM sync_change_log WHERE run_id = %s ORDER BY column_name",
        (run_id,),
    ).fetchall()
    assert logged == [
        (f'[{renamed.character_id}, "us"]', "name", renamed.name, renamed.name + "x"),
        (f'[{moved.character_id}, "us"]', "realm", moved.realm, "another-realm"),
    ]
    flags = {
        cid: (private, gone)
        for cid, private, gone in db.execute(
            "SELECT character_id, is_private, not_found_at IS NOT NULL FROM pvp_characters "
            "WHERE character_id = ANY(%s)",
            ([r.character_id for r in (renamed, moved, kept)],),
        )
    }
    assert flags == {
        renamed.character_id: (False, False),
        moved.character_id: (False, False),
        kept.character_id: (True, False),
    }


def test_a_live_sessions_claims_are_left_to_it_and_a_dead_ones_taken_over(
    pvp_upstream, pool, db, db_url
):
    """Another board's run that is still connected keeps its claims (this board waits for them
    and is not processed); once that session has ended, the claims are dead: this board takes
    the calls over at once and never waits for them (sql/035_pvp_claim_owner.sql)."""
    board = Board("eu", "3v3")
    run_with_client(pvp_upstream, lambda c: sync_leaderboard(pool, c, board, new_run_id()))
    short_wait = replace(SETTINGS, claim_wait_s=0.5)

    def equipment():
        return run_with_client(
            pvp_upstream, lambda c: sync_equipment(pool, c, board, new_run_id(), short_wait)
        )

    other = psycopg.connect(db_url.conninfo(), autocommit=True)
    claimer = other.execute(
        "UPDATE pvp_characters SET equipment_claimed_at = now(), "
        "equipment_claimed_pid = pg_backend_pid(), "
        "equipment_claimed_backend_start = pvp_claim_backend_start() "
        "WHERE NOT is_private AND not_found_at IS NULL RETURNING pg_backend_pid()"
    ).fetchall()
    assert claimer
    left = equipment()
    assert left.claimed_elsewhere == len(claimer) and left.fetched == 0
    assert left.waited_s >= 0.5 and not left.processed
    assert equipment_requests(pvp_upstream) == 0

    other.close()
    pid = claimer[0][0]
    deadline = time.monotonic() + 10
    while db.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]:
        assert time.monotonic() < deadline, "the closed session's backend never ended"
        time.sleep(0.05)
    taken = equipment()
    assert taken.claimed_elsewhere == 0 and taken.fetched > 0 and taken.processed
    assert taken.waited_s < 0.5
    assert equipment_requests(pvp_upstream) == taken.fetched + taken.became_private + (
        taken.became_not_found
    )
