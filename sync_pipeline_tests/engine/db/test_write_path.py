from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sync_pipeline.engine.entity import SpecError
from sync_pipeline.engine.fingerprint import fingerprint
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline_tests.engine.db.runs import change_log, row_versions, sync, table_rows
from sync_pipeline_tests.engine.db.tables import ENTRIES, ITEMS, SHOP_ITEMS, item


def test_first_load_inserts_typed_rows(tables, pool):
    records = [item(i) for i in range(1, 61)]
    records[0]["ref"] = "6F9619FF-8B86-D011-B42D-00C04FC964FF"
    result = sync(pool, ITEMS, records, run_id="run-1")
    assert (result.inserted, result.updated, result.unchanged, result.quarantined) == (60, 0, 0, 0)
    assert sorted(result.inserted_keys) == list(range(1, 61))
    rows = table_rows(tables, "items")
    assert len(rows) == 60
    first = rows[0]
    assert first["price"] == Decimal("1.50")
    assert first["seen_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert first["tags"] == {"colour": "red", "sizes": [1, 2]}
    assert str(first["ref"]) == "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    assert bytes(first["fingerprint"]) == fingerprint(records[0], ITEMS.fingerprint_excluded)
    assert (
        first["last_run_id"] == "run-1" and first["deleted_at"] is None and first["extra"] is None
    )
    assert result.checkpoint.status == "completed" and result.checkpoint.rows_done == 60


def test_unchanged_resync_writes_and_locks_nothing(tables, pool):
    records = [item(i) for i in range(1, 61)]
    sync(pool, ITEMS, records)
    before = row_versions(tables, "items")
    result = sync(pool, ITEMS, [dict(r) for r in reversed(records)])
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 60)
    assert result.changed_keys == []
    assert (
        row_versions(tables, "items") == before
    )  # same tuples, same xmin, xmax still 0: no write, no lock


def test_volatile_only_changes_are_not_changes(tables, pool):
    records = [item(i) for i in range(1, 21)]
    sync(pool, ITEMS, records)
    before = row_versions(tables, "items")
    touched = [
        dict(r, seen_at="2027-05-05T05:05:05Z", fetched_at="2027-05-05T05:05:05Z") for r in records
    ]
    result = sync(pool, ITEMS, touched)
    assert result.unchanged == 20 and result.written == 0
    assert row_versions(tables, "items") == before
    assert change_log(tables) == []


def test_changed_rows_are_rewritten_with_field_diffs(tables, pool):
    records = [item(i) for i in range(1, 21)]
    sync(pool, ITEMS, records, run_id="run-1")
    first_seen = {r["id"]: r["first_seen_at"] for r in table_rows(tables, "items")}
    changed = [dict(r) for r in records]
    changed[2].update(
        price="99.99", tags={"colour": "blue", "sizes": [1, 2]}, seen_at="2027-01-01T00:00:00Z"
    )
    changed[5].update(name="renamed", surprise=True)
    result = sync(pool, ITEMS, changed, run_id="run-2")
    assert (result.inserted, result.updated, result.unchanged) == (0, 2, 18)
    assert sorted(result.updated_keys) == [3, 6]
    assert sorted(change_log(tables)) == [
        ("3", "price", Decimal("3.50"), Decimal("99.99")),
        ("3", "tags", {"colour": "red", "sizes": [1, 2]}, {"colour": "blue", "sizes": [1, 2]}),
        ("6", "extra", None, {"surprise": True}),
        ("6", "name", "item 6", "renamed"),
    ]
    rows = {r["id"]: r for r in table_rows(tables, "items")}
    assert rows[3]["seen_at"] == datetime(
        2027, 1, 1, tzinfo=UTC
    )  # rewritten rows carry fresh volatile values
    assert rows[3]["last_run_id"] == "run-2" and rows[4]["last_run_id"] == "run-1"
    assert {k: r["first_seen_at"] for k, r in rows.items()} == first_seen
    assert rows[3]["synced_at"] > rows[4]["synced_at"]


def test_mixed_batch_is_classified(tables, pool):
    sync(pool, ITEMS, [item(i) for i in range(1, 11)])
    batch = [item(i) for i in range(1, 11)] + [item(i) for i in range(11, 16)]
    batch[0]["qty"] = 100
    batch += [item(12, name="last copy wins")]
    result = sync(pool, ITEMS, batch, full_snapshot=False)
    assert (result.inserted, result.updated, result.unchanged, result.duplicates) == (5, 1, 9, 1)
    assert sorted(result.changed_keys) == [1, 11, 12, 13, 14, 15]
    assert {r["id"]: r["name"] for r in table_rows(tables, "items")}[12] == "last copy wins"


def test_incremental_lookup_per_batch_gives_the_same_answer(tables, pool):
    sync(pool, ITEMS, [item(i) for i in range(1, 31)])
    batch = [item(i) for i in range(20, 41)]
    batch[0]["qty"] = 99
    options = WriteOptions(batch_size=7, preload_fingerprints=False)
    result = sync(pool, ITEMS, batch, full_snapshot=False, options=options)
    assert (result.inserted, result.updated, result.unchanged) == (10, 1, 10)


def test_composite_keys(tables, pool):
    entries = [
        {"region": r, "character_id": c, "rating": 1500 + c}
        for r in ("eu", "us")
        for c in range(30)
    ]
    assert sync(pool, ENTRIES, entries).inserted == 60
    entries[3]["rating"] = 9999
    result = sync(pool, ENTRIES, entries[:-1])
    assert (result.updated, result.soft_deleted, result.unchanged) == (1, 1, 58)
    assert result.updated_keys == [("eu", 3)] and result.soft_deleted_keys == [("us", 29)]
    assert ('["eu", 3]', "rating", 1503, 9999) in change_log(tables)


def test_snapshot_scope_only_touches_its_scope(tables, pool):
    sync(
        pool,
        SHOP_ITEMS,
        [item(i, shop="s1") for i in range(1, 41)],
        scope={"shop": "s1"},
        partition="s1",
    )
    sync(
        pool,
        SHOP_ITEMS,
        [item(i, shop="s2") for i in range(41, 81)],
        scope={"shop": "s2"},
        partition="s2",
    )
    result = sync(
        pool,
        SHOP_ITEMS,
        [item(i, shop="s1") for i in range(1, 40)],
        scope={"shop": "s1"},
        partition="s1",
    )
    assert (result.unchanged, result.soft_deleted, result.soft_deleted_keys) == (39, 1, [40])
    assert result.snapshot.live_before == 40
    deleted = [r["id"] for r in table_rows(tables, "items") if r["deleted_at"] is not None]
    assert deleted == [40]


def test_a_table_that_does_not_match_its_spec_is_refused(tables, pool):
    tables.execute("ALTER TABLE items ALTER COLUMN qty TYPE bigint")
    with pytest.raises(SpecError, match="column 'qty' is bigint, the spec says integer"):
        sync(pool, ITEMS, [item(1)])
    assert table_rows(tables, "items") == []


def test_a_not_null_column_must_be_required_in_the_spec(tables, pool):
    tables.execute("ALTER TABLE items ALTER COLUMN qty SET NOT NULL")
    with pytest.raises(
        SpecError, match="column 'qty' is NOT NULL without a default, but not required"
    ):
        sync(pool, ITEMS, [item(1)])


def test_the_scope_must_match_the_spec(tables, pool):
    with pytest.raises(ValueError, match=r"scope must give \['shop'\]"):
        sync(pool, SHOP_ITEMS, [item(1)])
