import json

import pytest

from sync_pipeline.engine.column_types import BIGINT, JSONB, TEXT, TIMESTAMPTZ
from sync_pipeline.engine.entity import Column, EntitySpec, SpecError
from sync_pipeline.engine.records import RecordRejected, key_text, raw_json, record_key, record_row
from sync_pipeline_tests.engine.db.tables import ENTRIES, ITEMS, item

FP = bytes(16)


def test_row_follows_copy_columns_and_passes_values_through():
    row = record_row(ITEMS, item(7, tags={"b": 1, "a": [None]}), FP)
    assert dict(zip(ITEMS.copy_columns, row)) == {
        "id": 7,
        "shop": "s1",
        "name": "item 7",
        "qty": 0,
        "price": "7.50",
        "tags": '{"b":1,"a":[null]}',
        "ref": None,
        "seen_at": "2026-01-01T00:00:00Z",
        "extra": None,
        "fingerprint": FP,
    }


def test_unknown_fields_go_to_extra_and_missing_optional_fields_are_null():
    record = item(7, colour_code="#fff", nested={"deep": [1]})
    del record["qty"]
    row = dict(zip(ITEMS.copy_columns, record_row(ITEMS, record, FP)))
    assert row["qty"] is None
    assert json.loads(row["extra"]) == {"colour_code": "#fff", "nested": {"deep": [1]}}


def test_a_record_as_wide_as_the_spec_but_with_another_field_keeps_it_in_extra():
    record = item(7, colour_code="#fff")
    del record["qty"]
    assert len(record) == len(ITEMS.columns)
    row = dict(zip(ITEMS.copy_columns, record_row(ITEMS, record, FP)))
    assert row["qty"] is None and json.loads(row["extra"]) == {"colour_code": "#fff"}


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"qty": "3"}, "qty: expected an integer, got str '3'"),
        ({"qty": True}, "qty: expected an integer, got bool True"),
        ({"qty": 3.0}, "qty: expected an integer, got float 3.0"),
        ({"name": None}, "name: missing required field"),
        ({"name": ["a"]}, "name: expected a string, got list ['a']"),
        ({"price": {"amount": 1}}, "price: expected a finite decimal string or number"),
        ({"price": "Infinity"}, "price: not a finite decimal string or number: str 'Infinity'"),
        ({"seen_at": "now"}, "seen_at: not an ISO 8601 timestamp string: str 'now'"),
        ({"seen_at": 1700000000}, "seen_at: expected an ISO 8601 timestamp string, got int"),
        ({"tags": {"note": "a\x00b"}}, "tags: contains a NUL character"),
        ({"oops": "x\x00"}, "extra fields: contains a NUL character"),
    ],
)
def test_wrong_types_are_rejected_with_the_column_named(change, reason):
    with pytest.raises(RecordRejected) as caught:
        record_row(ITEMS, item(7, **change), FP)
    assert str(caught.value).startswith(reason)


def test_a_bad_shape_does_not_poison_later_good_records():
    with pytest.raises(RecordRejected):
        record_row(ITEMS, item(1, qty="x"), FP)
    assert record_row(ITEMS, item(2), FP)[0] == 2
    with pytest.raises(RecordRejected):
        record_row(ITEMS, item(3, qty="x"), FP)


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"name": "no id"}, "id: missing key"),
        ({"id": "12"}, "id: bad key: expected an integer"),
        (["not", "an", "object"], "record is not a JSON object but list"),
        ("text", "record is not a JSON object but str"),
    ],
)
def test_unusable_keys(record, reason):
    with pytest.raises(RecordRejected, match=reason):
        record_key(ITEMS, record)


def test_composite_keys_and_their_text():
    key = record_key(ENTRIES, {"region": "eu", "character_id": 42, "rating": 2100})
    assert key == ("eu", 42)
    assert key_text(key) == '["eu", 42]'
    assert key_text(42) == "42"


def test_raw_json_keeps_whatever_came():
    assert raw_json({"a": "x\x00y"}) == '{"a":"x\\u0000y"}'
    assert json.loads(raw_json({"a": "\ud800", "big": 2**70})) == {"a": "\ud800", "big": 2**70}


def test_spec_contradictions_are_refused():
    with pytest.raises(SpecError, match="key 'nope' is not a column"):
        EntitySpec(source="s", table="t", key=("nope",), columns=(Column("id", BIGINT),))
    with pytest.raises(SpecError, match="not usable as a key"):
        EntitySpec(source="s", table="t", key=("doc",), columns=(Column("doc", JSONB),))
    with pytest.raises(SpecError, match="bookkeeping column"):
        EntitySpec(
            source="s",
            table="t",
            key=("id",),
            columns=(Column("id", BIGINT), Column("extra", JSONB)),
        )
    with pytest.raises(SpecError, match="cannot be volatile"):
        EntitySpec(
            source="s",
            table="t",
            key=("id",),
            columns=(Column("id", BIGINT), Column("at", TIMESTAMPTZ)),
            volatile=frozenset({"id"}),
        )
    with pytest.raises(SpecError, match="scope 'x' is not a column"):
        EntitySpec(
            source="s",
            table="t",
            key=("id",),
            columns=(Column("id", BIGINT), Column("n", TEXT)),
            scope=("x",),
        )
