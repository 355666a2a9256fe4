import uuid

import pytest

from sync_pipeline.engine.checkpoints import Position, listing_layout
from sync_pipeline.engine.soft_delete import soft_delete_refusal
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline_tests.engine.db.runs import change_log, row_versions, sync, table_rows
from sync_pipeline_tests.engine.db.tables import ITEMS, item

LAYOUT = listing_layout(10)


def deleted_ids(conn) -> list[int]:
    return [r["id"] for r in table_rows(conn, "items") if r["deleted_at"] is not None]


def test_missing_keys_are_soft_deleted_and_revived(tables, pool):
    records = [item(i) for i in range(1, 101)]
    sync(pool, ITEMS, records)
    result = sync(pool, ITEMS, records[:97])  # 3 missing: 3%
    assert (result.soft_deleted, sorted(result.soft_deleted_keys), result.unchanged) == (
        3,
        [98, 99, 100],
        97,
    )
    assert result.snapshot.refused is None and result.snapshot.missing == 3
    assert len(table_rows(tables, "items")) == 100, "never hard-deleted"
    assert deleted_ids(tables) == [98, 99, 100]
    assert [(k, c, o) for k, c, o, _ in change_log(tables)] == [
        (k, "deleted_at", None) for k in ("98", "99", "100")
    ]

    revived = sync(pool, ITEMS, records[:97] + [dict(records[97], qty=42), records[98]])
    assert (revived.inserted, revived.updated, revived.soft_deleted) == (0, 2, 0)
    assert sorted(revived.updated_keys) == [98, 99]
    assert deleted_ids(tables) == [100]
    log = change_log(tables)[3:]
    assert sorted((k, c) for k, c, _, new in log if new is None) == [
        ("98", "deleted_at"),
        ("99", "deleted_at"),
    ]
    assert ("98", "qty", 0, 42) in log


def test_missing_share_at_threshold_is_refused_unless_forced(tables, pool):
    records = [item(i) for i in range(1, 101)]
    sync(pool, ITEMS, records)
    before = row_versions(tables, "items")
    refused = sync(pool, ITEMS, records[:95])
    assert refused.soft_deleted == 0
    assert refused.snapshot.missing == 5
    assert "5 of 100 live rows (5.0%)" in refused.snapshot.refused
    assert row_versions(tables, "items") == before
    forced = sync(pool, ITEMS, records[:95], force=True)
    assert forced.soft_deleted == 5 and deleted_ids(tables) == [96, 97, 98, 99, 100]


def test_threshold_is_configurable(tables, pool):
    records = [item(i) for i in range(1, 101)]
    sync(pool, ITEMS, records)
    result = sync(pool, ITEMS, records[:80], options=WriteOptions(soft_delete_threshold=0.25))
    assert result.soft_deleted == 20


def test_incremental_runs_never_soft_delete(tables, pool):
    sync(pool, ITEMS, [item(i) for i in range(1, 101)])
    result = sync(pool, ITEMS, [item(1)], full_snapshot=False)
    assert result.snapshot is None and deleted_ids(tables) == []


def test_a_resumed_snapshot_does_not_soft_delete(tables, pool):
    records = [item(i) for i in range(1, 101)]
    sync(pool, ITEMS, records)
    options = WriteOptions(batch_size=10)
    with (
        pytest.raises(RuntimeError, match="stop"),
        SyncRun(
            pool,
            ITEMS,
            pipeline="test",
            partition="all",
            run_id="a",
            options=options,
            layout=LAYOUT,
        ) as run,
    ):
        run.add_page(records[:10], Position(page=1))
        run.flush()
        raise RuntimeError("stop")
    with SyncRun(
        pool, ITEMS, pipeline="test", partition="all", run_id="b", options=options, layout=LAYOUT
    ) as run:
        assert run.checkpoint.resumed and run.checkpoint.next_page == 2
        run.add_page(records[10:99], Position(page=2))
        result = run.finish(full_snapshot=True)
    assert (
        result.soft_deleted == 0 and result.snapshot.missing == 11
    )  # 1 really missing, 10 seen before the resume
    assert "resumed" in result.snapshot.refused


@pytest.mark.parametrize(
    "missing, live, force, refused",
    [
        (0, 0, False, False),
        (4, 100, False, False),
        (5, 100, False, True),
        (100, 100, True, False),
    ],
)
def test_refusal_rule(missing, live, force, refused):
    assert (soft_delete_refusal(missing, live, 0.05, force) is not None) is refused


def test_run_ids_are_recorded(tables, pool):
    records = [item(i) for i in range(1, 101)]
    sync(pool, ITEMS, records)
    run_id = uuid.uuid4().hex
    sync(pool, ITEMS, records[1:], run_id=run_id)
    assert tables.execute("SELECT last_run_id FROM items WHERE id = 1").fetchone()[0] == run_id
    assert (
        tables.execute(
            "SELECT count(*) FROM sync_change_log WHERE run_id = %s", (run_id,)
        ).fetchone()[0]
        == 1
    )


def test_a_full_snapshot_needs_the_whole_scope_loaded(tables, pool):
    with (
        SyncRun(
            pool,
            ITEMS,
            pipeline="test",
            partition="all",
            run_id="x",
            options=WriteOptions(preload_fingerprints=False),
        ) as run,
        pytest.raises(ValueError, match="needs preload_fingerprints=True"),
    ):
        run.finish(full_snapshot=True)
