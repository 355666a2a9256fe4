import threading
import time

import psycopg
import pytest

from sync_pipeline.engine.fingerprint import fingerprint
from sync_pipeline.engine.scope_lock import ScopeBusy, scope_lock
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline_tests.engine.db.runs import row_versions, sync, table_rows
from sync_pipeline_tests.engine.db.tables import ITEMS, item


def test_a_second_run_of_the_same_scope_is_refused(tables, pool):
    with SyncRun(pool, ITEMS, pipeline="items", partition="all", run_id="first") as first:
        busy = (
            r"pipeline 'items', partition 'all' is being written by another run "
            r"\(PostgreSQL backend pid \d+\)"
        )
        with (
            pytest.raises(ScopeBusy, match=busy),
            SyncRun(pool, ITEMS, pipeline="items", partition="all", run_id="second"),
        ):
            pass
        with SyncRun(pool, ITEMS, pipeline="items", partition="other", run_id="third") as other:
            other.finish()
        first.finish()
    with SyncRun(pool, ITEMS, pipeline="items", partition="all", run_id="fourth") as later:
        later.finish()


def test_the_lock_dies_with_its_connection(db_url):
    owner = psycopg.connect(db_url.conninfo())
    other = psycopg.connect(db_url.conninfo())
    with scope_lock(owner, "cars", "all"):
        with pytest.raises(ScopeBusy), scope_lock(other, "cars", "all"):
            pass
        owner.close()
        # The server ends the closed session's backend a moment later; the lock goes with it.
        deadline = time.monotonic() + 10
        while True:
            try:
                with scope_lock(other, "cars", "all"):
                    break
            except ScopeBusy:
                assert time.monotonic() < deadline, "the closed connection's lock was never freed"
                time.sleep(0.05)
    other.close()


def test_concurrent_writers_of_the_same_rows_stay_consistent(tables, pool):
    """Two pipelines (own scopes, so no scope lock between them) write overlapping keys at once.

    Whatever the interleaving: no error, no deadlock, one row per key, and every row is wholly
    one writer's version with that version's fingerprint (the guard in ON CONFLICT held).
    """
    versions = {
        "a": [item(i, name=f"a{i}", qty=1) for i in range(1, 301)],
        "b": [item(i, name=f"b{i}", qty=2) for i in reversed(range(150, 451))],
    }
    options = WriteOptions(batch_size=40, parallel_batches=2)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            start.wait()
            for _ in range(3):
                sync(
                    pool,
                    ITEMS,
                    versions[name],
                    full_snapshot=False,
                    options=options,
                    pipeline=name,
                    page_size=20,
                )
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = table_rows(tables, "items")
    assert [r["id"] for r in rows] == list(range(1, 451))
    by_version = {(r["id"], r["name"]): r for v in versions.values() for r in v}
    for row in rows:
        sent = by_version[(row["id"], row["name"])]
        assert row["qty"] == sent["qty"]
        assert bytes(row["fingerprint"]) == fingerprint(sent, ITEMS.fingerprint_excluded)
    assert {r["name"][0] for r in rows if r["id"] < 150} == {"a"}
    assert {r["name"][0] for r in rows if r["id"] > 300} == {"b"}


def test_a_deadlock_victim_batch_is_retried_whole(tables, pool):
    # A real 40P01 error from PostgreSQL, twice; a sequence counts attempts across rollbacks.
    tables.execute("""
        CREATE SEQUENCE merge_attempts;
        CREATE FUNCTION fail_like_a_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('merge_attempts') <= 2 THEN
                RAISE EXCEPTION 'simulated deadlock' USING ERRCODE = 'deadlock_detected';
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER deadlock_twice BEFORE INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION fail_like_a_deadlock();
    """)  # noqa: E501
    records = [item(i) for i in range(1, 31)] + [item(31, qty="bad")]
    result = sync(
        pool, ITEMS, records, options=WriteOptions(batch_size=100, parallel_batches=1), page_size=31
    )
    assert (result.inserted, result.quarantined, result.batches) == (30, 1, 1)
    assert tables.execute("SELECT last_value FROM merge_attempts").fetchone()[0] == 3
    assert tables.execute("SELECT count(*) FROM sync_quarantine").fetchone()[0] == 1
    assert result.checkpoint.rows_done == 31


def test_a_batch_that_keeps_deadlocking_fails_the_run(tables, pool):
    tables.execute("""
        CREATE FUNCTION always_deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'simulated deadlock' USING ERRCODE = 'deadlock_detected'; END $$;
        CREATE TRIGGER deadlock_always BEFORE INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION always_deadlock();
    """)  # noqa: E501
    with pytest.raises(psycopg.errors.DeadlockDetected):
        sync(pool, ITEMS, [item(i) for i in range(1, 11)])
    assert table_rows(tables, "items") == []
    assert tables.execute("SELECT status, rows_done FROM sync_checkpoints").fetchone() == (
        "failed",
        0,
    )


def test_the_fingerprint_guard_skips_a_version_another_writer_already_stored(tables, pool):
    sync(pool, ITEMS, [item(i) for i in range(1, 11)])
    newer = [item(i, name="newer") for i in range(1, 4)]
    with SyncRun(
        pool, ITEMS, pipeline="slow", partition="all", run_id="slow"
    ) as slow:  # fingerprints loaded now
        sync(pool, ITEMS, newer, full_snapshot=False, pipeline="fast", run_id="fast")
        written_by_fast = row_versions(tables, "items")
        slow.add_page(newer + [item(4, name="only slow")])
        result = slow.finish()
    assert (result.updated, result.unchanged, result.updated_keys) == (1, 3, [4])
    after = row_versions(tables, "items")
    kept = {(ctid, xmin) for ctid, (xmin, _) in written_by_fast.items()} & {
        (c, x) for c, (x, _) in after.items()
    }
    assert len(kept) == 9, (
        "rows 1-3 were only locked (their stale copies were compared), not rewritten"
    )
    assert [r["last_run_id"] for r in table_rows(tables, "items")][:4] == [
        "fast",
        "fast",
        "fast",
        "slow",
    ]
    assert (
        tables.execute("SELECT count(*) FROM sync_change_log WHERE run_id = 'slow'").fetchone()[0]
        == 1
    )


def test_a_first_load_batch_that_meets_rows_of_another_writer_falls_back_to_the_merge(tables, pool):
    with SyncRun(
        pool, ITEMS, pipeline="slow", partition="all", run_id="slow"
    ) as slow:  # sees an empty table
        sync(
            pool,
            ITEMS,
            [item(1), item(2), item(3, name="older")],
            full_snapshot=False,
            pipeline="fast",
            run_id="fast",
        )
        written_by_fast = {
            (ctid, xmin) for ctid, (xmin, _) in row_versions(tables, "items").items()
        }
        slow.add_page([item(i) for i in range(1, 6)])
        result = slow.finish()
    assert (sorted(result.inserted_keys), result.updated_keys, result.unchanged) == ([4, 5], [3], 2)
    assert [r["last_run_id"] for r in table_rows(tables, "items")] == [
        "fast",
        "fast",
        "slow",
        "slow",
        "slow",
    ]
    assert tables.execute(
        "SELECT record_key, column_name, old_value, new_value FROM sync_change_log"
    ).fetchall() == [("3", "name", "older", "item 3")]
    kept = written_by_fast & {
        (ctid, xmin) for ctid, (xmin, _) in row_versions(tables, "items").items()
    }
    assert len(kept) == 2
