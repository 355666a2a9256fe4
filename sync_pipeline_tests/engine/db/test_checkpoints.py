import asyncio
import signal
import subprocess
import sys
from datetime import timedelta

import pytest

from sync_pipeline.engine import checkpoints
from sync_pipeline.engine.checkpoints import CheckpointLost, Position
from sync_pipeline.engine.fingerprint import fingerprint
from sync_pipeline.engine.http.pagination import PagedListing
from sync_pipeline.engine.listing_sync import sync_paged_listing
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline_tests.engine.db import interrupted_sync
from sync_pipeline_tests.engine.db.runs import table_rows
from sync_pipeline_tests.engine.db.tables import ITEMS


def test_fresh_then_resumed_then_completed(db):
    fresh = checkpoints.start_or_resume(db, "cars", "all", "run-1")
    assert (fresh.page, fresh.cursor, fresh.rows_done, fresh.resumed, fresh.next_page) == (
        None,
        None,
        0,
        False,
        1,
    )
    with db.transaction():
        moved = checkpoints.advance(db, fresh, Position(page=4, cursor="c4"), 4000)
    assert (moved.page, moved.cursor, moved.rows_done) == (4, "c4", 4000)
    resumed = checkpoints.start_or_resume(db, "cars", "all", "run-2")
    assert (resumed.resumed, resumed.run_id, resumed.next_page, resumed.rows_done) == (
        True,
        "run-2",
        5,
        4000,
    )
    with db.transaction():
        checkpoints.set_status(db, resumed, "completed")
    again = checkpoints.start_or_resume(db, "cars", "all", "run-3")
    assert (again.resumed, again.page, again.rows_done, again.status) == (False, None, 0, "running")
    assert checkpoints.read_checkpoint(db, "cars", "all") == again


def test_old_checkpoints_are_not_resumed(db):
    first = checkpoints.start_or_resume(db, "cars", "all", "run-1")
    with db.transaction():
        checkpoints.advance(db, first, Position(page=9), 9000)
    db.execute("UPDATE sync_checkpoints SET updated_at = now() - interval '25 hours'")
    assert not checkpoints.start_or_resume(db, "cars", "all", "run-2").resumed
    with db.transaction():
        checkpoints.advance(
            db, checkpoints.read_checkpoint(db, "cars", "all"), Position(page=2), 2000
        )
    db.execute("UPDATE sync_checkpoints SET updated_at = now() - interval '3 hours'")
    assert not checkpoints.start_or_resume(
        db, "cars", "all", "run-3", max_age=timedelta(hours=2)
    ).resumed


def test_a_run_that_lost_its_checkpoint_cannot_advance_it(db):
    mine = checkpoints.start_or_resume(db, "cars", "all", "run-1")
    checkpoints.start_or_resume(db, "cars", "all", "run-2")
    with pytest.raises(CheckpointLost, match="no longer owned by run run-1"), db.transaction():
        checkpoints.advance(db, mine, Position(page=1), 10)


def test_killed_run_resumes_without_skipping_or_repeating_a_page(tables, pool, db_url):
    kill_at = 17
    died = subprocess.run(
        [
            sys.executable,
            "-m",
            "sync_pipeline_tests.engine.db.interrupted_sync",
            db_url.raw,
            str(kill_at),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr
    stored = checkpoints.read_checkpoint(tables, "items", "all")
    assert stored.status == "running" and stored.page is not None and stored.page < kill_at
    committed = [r["id"] for r in table_rows(tables, "items")]
    assert committed == list(range(1, stored.page * interrupted_sync.PAGE_SIZE + 1)), (
        "the table holds exactly the pages the checkpoint covers"
    )
    assert stored.rows_done == len(committed)

    fetched = []
    with SyncRun(
        pool,
        ITEMS,
        pipeline="items",
        partition="all",
        run_id="resumed",
        options=interrupted_sync.OPTIONS,
        layout=interrupted_sync.LAYOUT,
    ) as run:
        assert run.checkpoint.resumed and run.checkpoint.next_page == stored.page + 1
        for number in range(run.checkpoint.next_page, interrupted_sync.PAGES + 1):
            fetched.append(number)
            run.add_page(interrupted_sync.page(number), Position(page=number))
        result = run.finish(full_snapshot=True)

    total = interrupted_sync.PAGES * interrupted_sync.PAGE_SIZE
    assert fetched == list(range(stored.page + 1, interrupted_sync.PAGES + 1))
    assert (result.inserted, result.updated, result.unchanged) == (total - len(committed), 0, 0)
    assert result.checkpoint.rows_done == total and result.checkpoint.status == "completed"
    rows = table_rows(tables, "items")
    expected = [r for n in range(1, interrupted_sync.PAGES + 1) for r in interrupted_sync.page(n)]
    assert [(r["id"], r["name"], bytes(r["fingerprint"])) for r in rows] == [
        (r["id"], r["name"], fingerprint(r, ITEMS.fingerprint_excluded)) for r in expected
    ]
    assert {r["last_run_id"] for r in rows} == {"killed", "resumed"}


LAYOUT = {"page_size": 500, "order": "id", "params": {}}


@pytest.mark.parametrize(
    "stored, page, layout, expected",
    [
        (LAYOUT, 7, LAYOUT, (7, 0, False)),
        (LAYOUT, 7, None, (7, 0, False)),
        (LAYOUT, 7, {**LAYOUT, "page_size": 1000}, (3, 500, False)),
        (LAYOUT, 8, {**LAYOUT, "page_size": 1000}, (4, 0, False)),
        (LAYOUT, 3, {**LAYOUT, "page_size": 300}, (5, 0, False)),
        (LAYOUT, 1, {**LAYOUT, "page_size": 1000}, (None, 500, False)),
        (LAYOUT, 7, {**LAYOUT, "order": "updated_at"}, (None, 0, True)),
        (
            LAYOUT,
            7,
            {**LAYOUT, "params": {"updated_since": "2026-11-20T00:00:00Z"}},
            (None, 0, True),
        ),
        (None, 7, LAYOUT, (None, 0, True)),
    ],
)
def test_a_position_is_translated_into_the_run_s_page_size_or_started_over(
    stored, page, layout, expected
):
    plan = checkpoints.plan_resume(page, None, stored, layout)
    assert (plan.page, plan.skip_records, plan.restart) == expected
    assert (plan.note is None) == (stored == layout or layout is None)


def test_a_resumed_checkpoint_of_another_layout_is_translated_and_says_so(db):
    first = checkpoints.start_or_resume(db, "cars", "all", "run-1", layout=LAYOUT)
    with db.transaction():
        checkpoints.advance(db, first, Position(page=7), 3500)
    retry = checkpoints.start_or_resume(
        db, "cars", "all", "run-2", layout={**LAYOUT, "page_size": 1000}
    )
    assert (retry.resumed, retry.next_page, retry.skip_records, retry.rows_done) == (
        True,
        4,
        500,
        3500,
    )
    assert retry.note == (
        "checkpoint at page 7 of 500 records translated to page 3 of 1000, "
        "skipping the first 500 records of page 4"
    )
    with db.transaction():
        moved = checkpoints.advance(db, retry, Position(page=4), 500)
    assert moved.skip_records == 0
    assert checkpoints.read_checkpoint(db, "cars", "all").layout == {**LAYOUT, "page_size": 1000}


def test_a_checkpoint_of_another_listing_starts_the_scope_over(db):
    first = checkpoints.start_or_resume(db, "cars", "all", "run-1", layout=LAYOUT)
    with db.transaction():
        checkpoints.advance(db, first, Position(page=7), 3500)
    other = {**LAYOUT, "params": {"updated_since": "2026-11-20T00:00:00Z"}}
    retry = checkpoints.start_or_resume(db, "cars", "all", "run-2", layout=other)
    assert (retry.resumed, retry.page, retry.rows_done) == (False, None, 0)
    assert (
        "was written for another listing (params" in retry.note
        and "starting the scope over" in retry.note
    )
    assert checkpoints.read_checkpoint(db, "cars", "all").layout == other


def test_a_cursor_position_is_kept_under_another_page_size_and_started_over_for_another_listing():
    assert LAYOUT == checkpoints.listing_layout(500)
    kept = checkpoints.plan_resume(7, "c7", LAYOUT, checkpoints.listing_layout(200))
    assert (kept.page, kept.skip_records, kept.restart) == (7, 0, False)
    assert (
        kept.note
        == "checkpoint at cursor 'c7' written in pages of 500 resumed as is in pages of 200 "
        "(a cursor names a record)"
    )
    other = checkpoints.listing_layout(200, {"workspace_id": "ws_2"})
    assert checkpoints.plan_resume(7, "c7", LAYOUT, other).restart


def test_a_run_refuses_a_paged_position_without_a_layout(tables, pool):
    with (
        pytest.raises(ValueError, match="needs the run's layout"),
        SyncRun(pool, ITEMS, pipeline="items", partition="all", run_id="bare") as run,
    ):
        run.add_page([interrupted_sync.page(1)[0]], Position(page=1))
        run.flush()
    assert checkpoints.read_checkpoint(tables, "items", "all").page is None


def test_a_listing_walk_refuses_a_run_whose_layout_is_not_the_listing_s(tables, pool):
    listing = PagedListing("/items", "items", "page_size", 50)
    other = checkpoints.listing_layout(20)
    with (
        pytest.raises(ValueError, match="is not the walk's"),
        SyncRun(pool, ITEMS, pipeline="items", partition="all", run_id="w", layout=other) as run,
    ):
        asyncio.run(sync_paged_listing(None, listing, run, key=lambda r: r["id"]))
