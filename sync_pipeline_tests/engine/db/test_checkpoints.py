import signal
import subprocess
import sys
from datetime import timedelta

import pytest

from sync_pipeline.engine import checkpoints
from sync_pipeline.engine.checkpoints import CheckpointLost, Position
from sync_pipeline.engine.fingerprint import fingerprint
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline_tests.engine.db import interrupted_sync
from sync_pipeline_tests.engine.db.runs import table_rows
from sync_pipeline_tests.engine.db.tables import ITEMS


def test_fresh_then_resumed_then_completed(db):
    fresh = checkpoints.start_or_resume(db, "cars", "all", "run-1")
    assert (fresh.page, fresh.cursor, fresh.rows_done, fresh.resumed, fresh.next_page) == (None, None, 0, False, 1)
    with db.transaction():
        moved = checkpoints.advance(db, fresh, Position(page=4, cursor="c4"), 4000)
    assert (moved.page, moved.cursor, moved.rows_done) == (4, "c4", 4000)
    resumed = checkpoints.start_or_resume(db, "cars", "all", "run-2")
    assert (resumed.resumed, resumed.run_id, resumed.next_page, resumed.rows_done) == (True, "run-2", 5, 4000)
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
        checkpoints.advance(db, checkpoints.read_checkpoint(db, "cars", "all"), Position(page=2), 2000)
    db.execute("UPDATE sync_checkpoints SET updated_at = now() - interval '3 hours'")
    assert not checkpoints.start_or_resume(db, "cars", "all", "run-3", max_age=timedelta(hours=2)).resumed


def test_a_run_that_lost_its_checkpoint_cannot_advance_it(db):
    mine = checkpoints.start_or_resume(db, "cars", "all", "run-1")
    checkpoints.start_or_resume(db, "cars", "all", "run-2")
    with pytest.raises(CheckpointLost, match="no longer owned by run run-1"):
        with db.transaction():
            checkpoints.advance(db, mine, Position(page=1), 10)


def test_killed_run_resumes_without_skipping_or_repeating_a_page(tables, pool, db_url):
    kill_at = 17
    died = subprocess.run([sys.executable, "-m", "sync_pipeline_tests.engine.db.interrupted_sync",
                           db_url.raw, str(kill_at)], capture_output=True, text=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr
    stored = checkpoints.read_checkpoint(tables, "items", "all")
    assert stored.status == "running" and stored.page is not None and stored.page < kill_at
    committed = [r["id"] for r in table_rows(tables, "items")]
    assert committed == list(range(1, stored.page * interrupted_sync.PAGE_SIZE + 1)), \
        "the table holds exactly the pages the checkpoint covers"
    assert stored.rows_done == len(committed)

    fetched = []
    with SyncRun(pool, ITEMS, pipeline="items", partition="all", run_id="resumed",
                 options=interrupted_sync.OPTIONS) as run:
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
        (r["id"], r["name"], fingerprint(r, ITEMS.fingerprint_excluded)) for r in expected]
    assert {r["last_run_id"] for r in rows} == {"killed", "resumed"}
