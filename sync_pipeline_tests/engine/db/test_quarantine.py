import json

import pytest
from psycopg import sql

from sync_pipeline.engine.checkpoints import CheckpointLost, Position, listing_layout
from sync_pipeline.engine.records import record_row
from sync_pipeline.engine.staging import StagingTable
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline_tests.engine.db.runs import quarantine, sync, table_rows
from sync_pipeline_tests.engine.db.tables import ENTRIES, ITEMS, item

BAD_IN_PYTHON = {
    101: (item(101, qty="3"), "qty: expected an integer, got str '3'"),
    102: (item(102, tags={"a\x00b": 1}), "field name 'a\\x00b' contains a NUL character"),
    103: (
        item(103, tags={"deep": [{"x\x00": "y"}]}),
        "field name 'x\\x00' contains a NUL character",
    ),
    104: (item(104, name=None), "name: missing required field"),
    105: (item(105, qty=2**70), "record cannot be fingerprinted"),
    106: (item(106, name="\ud800"), "record cannot be fingerprinted"),
    107: (
        item(107, seen_at="yesterday"),
        "seen_at: not an ISO 8601 timestamp string: str 'yesterday'",
    ),
    108: (item(108, price="NaN"), "price: not a finite decimal string or number: str 'NaN'"),
    109: (item(109, price="12,50"), "price: not a finite decimal string or number: str '12,50'"),
}
BAD_IN_POSTGRES = {
    201: (item(201, seen_at="2026-02-30T00:00:00Z"), "not an ISO 8601 timestamp"),
    202: (item(202, qty=2**40), 'value "1099511627776" is out of range for type integer'),
    204: (item(204, price="123456789.00"), "numeric field overflow"),
    205: (item(205, ref="not-a-uuid"), 'invalid input syntax for type uuid: "not-a-uuid"'),
    206: (
        item(206, ref="6f9619ff-8b86-d011-b42d-00c04fc964ff-00"),
        "invalid input syntax for type uuid",
    ),
}


def test_bad_records_are_quarantined_and_the_rest_loads(tables, pool):
    good = [item(i) for i in range(1, 41)]
    bad = {**BAD_IN_PYTHON, **BAD_IN_POSTGRES}
    keyless = [{"name": "no id"}, ["not", "an", "object"]]
    records = good[:20] + [record for record, _ in bad.values()] + keyless + good[20:]
    result = sync(pool, ITEMS, records, run_id="run-q", page_size=50, full_snapshot=False)
    assert sorted(result.inserted_keys) == list(range(1, 41))
    assert result.quarantined == len(bad) + 2
    assert [r["id"] for r in table_rows(tables, "items")] == list(range(1, 41))
    stored = quarantine(tables)
    assert {(r["source"], r["entity"], r["run_id"]) for r in stored} == {
        ("shopapi", "items", "run-q")
    }
    by_key = {r["record_key"]: r for r in stored}
    for key, (record, reason) in bad.items():
        assert reason in by_key[str(key)]["reason"], by_key[str(key)]["reason"]
    assert by_key["202"]["reason"].startswith("rejected by PostgreSQL: ")
    assert json.loads(by_key["102"]["raw_json"]) == BAD_IN_PYTHON[102][0]
    assert by_key[None]["reason"] in ("id: missing key", "record is not a JSON object but list")
    assert sorted(r["reason"] for r in stored if r["record_key"] is None) == [
        "id: missing key",
        "record is not a JSON object but list",
    ]


def test_quarantined_keys_are_not_counted_missing(tables, pool):
    records = [item(i) for i in range(1, 21)]
    sync(pool, ITEMS, records)
    records[4] = item(5, qty="oops")
    records[5] = item(6, qty=2**40)
    records[6] = item(
        7, seen_at="not a time"
    )  # only a volatile field: unchanged, so never typed nor written
    result = sync(pool, ITEMS, records)
    assert (result.quarantined, result.unchanged, result.soft_deleted, result.snapshot.missing) == (
        2,
        18,
        0,
        0,
    )


def test_quarantine_rows_commit_with_their_batch(tables, pool):
    options = WriteOptions(batch_size=10, parallel_batches=1)
    with (
        pytest.raises(CheckpointLost),
        SyncRun(
            pool,
            ITEMS,
            pipeline="test",
            partition="all",
            run_id="mine",
            options=options,
            layout=listing_layout(2),
        ) as run,
    ):
        run.add_page([item(1), item(2, qty="x")], Position(page=1))
        run.flush()
        run.wait()
        tables.execute("UPDATE sync_checkpoints SET run_id = 'someone-else'")
        run.add_page([item(3), item(4, qty="y")], Position(page=2))
        run.finish()
    assert [r["record_key"] for r in quarantine(tables)] == ["2"]
    assert [r["id"] for r in table_rows(tables, "items")] == [1]


def test_staging_isolates_the_rows_postgres_refuses(tables):
    staging = StagingTable(ITEMS)
    rows = [record_row(ITEMS, item(i), bytes(16)) for i in range(1, 101)]
    rows[10][2] = "nul \x00 in a text column"  # as a volatile text column could hold
    rows[50][3] = 2**31
    rows[51][7] = "2026-13-01T00:00:00Z"
    with tables.transaction():
        refused = staging.load(tables, rows)
        staged = tables.execute(
            sql.SQL("SELECT id FROM {} ORDER BY id").format(staging.identifier)
        ).fetchall()
    assert [index for index, _ in refused] == [10, 50, 51]
    assert "NUL" in refused[0][1] and "out of range for type integer" in refused[1][1]
    assert [r[0] for r in staged] == [i for i in range(1, 101) if i not in (11, 51, 52)]


def test_nul_characters_are_stripped_counted_and_fingerprinted_clean(tables, pool):
    records = [item(i) for i in range(1, 11)]
    records[2] = item(3, name="a\x00b", tags={"deep": ["x\x00", {"k": "\x00v\x00"}]})
    records[3] = item(
        4, seen_at="2026-01-01T00:00:00Z", extra_note="n\x00"
    )  # volatile and extra fields
    records[4] = item(5, seen_at="2026-01-01T00:00:00Z\x00")  # a NUL in a volatile field only
    records[5] = item(6, fetched_at="t\x00")  # in a volatile field that is no column (extra)
    records[6] = item(7, name="back\\slash \\u0000 as text")  # escapes, but no NUL
    first = sync(pool, ITEMS, records)
    assert (first.inserted, first.quarantined, first.sanitized_values) == (10, 0, 6)
    rows = {r["id"]: r for r in table_rows(tables, "items")}
    assert rows[3]["name"] == "ab" and rows[3]["tags"] == {"deep": ["x", {"k": "v"}]}
    assert rows[4]["extra"] == {"extra_note": "n"}
    assert rows[6]["extra"] == {"fetched_at": "t"}
    assert rows[7]["name"] == "back\\slash \\u0000 as text"
    again = sync(pool, ITEMS, records)
    assert (again.unchanged, again.updated, again.sanitized_values) == (10, 0, 6)


def test_a_nul_in_a_key_is_quarantined_with_the_raw_record(tables, pool):
    records = [
        {"region": "eu", "character_id": 1, "rating": 5},
        {"region": "e\x00u", "character_id": 2, "rating": 6},
    ]
    result = sync(pool, ENTRIES, records, full_snapshot=False)
    assert (result.inserted, result.quarantined) == (1, 1)
    [stored] = quarantine(tables)
    assert stored["record_key"] == '["e\\u0000u", 2]'
    assert "the key contains a NUL character" in stored["reason"]
    assert json.loads(stored["raw_json"]) == records[1]


def test_a_quarantined_record_without_a_readable_key_refuses_delisting(tables, pool):
    records = [item(i) for i in range(1, 21)]
    sync(pool, ITEMS, records)
    records[4] = {
        **item(5),
        "id": "5",
    }  # the key is unreadable: which stored row it is cannot be known
    result = sync(pool, ITEMS, records)
    assert (result.quarantined, result.soft_deleted, result.snapshot.missing) == (1, 0, 1)
    assert "no readable key" in result.snapshot.refused
    assert len([r for r in table_rows(tables, "items") if r["deleted_at"] is None]) == 20
