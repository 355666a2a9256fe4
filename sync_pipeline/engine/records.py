"""From a fetched record (a JSON object) to its key and its COPY row, or to a rejection.

A record is rejected, never fatal, when it is not an object, lacks its key or a required field,
or holds a JSON value of a type its column does not take (see `column_types`). Fields the spec
does not know are kept in the row's `extra` jsonb value.

Typing is the hot path of a first load, so `record_row` checks a record's whole shape at once:
the tuple of its value types is looked up in the set of shapes already found valid, and only an
unseen shape is checked column by column (which also names the offending column).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cache, partial
from operator import itemgetter
from typing import Any

import orjson

from sync_pipeline.engine.column_types import (
    INVALID,
    BadValue,
    ColumnType,
    describe,
    same,
    serialize_jsonb,
)
from sync_pipeline.engine.entity import EntitySpec

Key = Hashable
"""A record's key: its key column's normalised value, or a tuple of them (composite key)."""

MAX_KNOWN_SHAPES = 4096


class RecordRejected(ValueError):
    """The record cannot be stored; `str(exc)` is the quarantine reason."""


@dataclass(frozen=True)
class Rejection:
    """A record bound for the quarantine: its key as text (None if it has none), why, and
    the record as JSON text (`raw_json`)."""

    key_text: str | None
    reason: str
    raw_json: str


def record_key(spec: EntitySpec, record: Any) -> Key:
    """The key of `record`, normalised like PostgreSQL prints it; raises `RecordRejected`."""
    if type(record) is not dict:
        raise RecordRejected(f"record is not a JSON object but {type(record).__name__}")
    if len(spec.key) == 1:
        return _key_value(record, spec.key[0], spec.key_types[0])
    return tuple(_key_value(record, name, ctype) for name, ctype in zip(spec.key, spec.key_types))


def _key_value(record: dict, name: str, ctype: ColumnType) -> Any:
    value = record.get(name)
    if value is None:
        raise RecordRejected(f"{name}: missing key")
    try:
        return ctype.key_value(ctype.check(value))
    except BadValue as exc:
        raise RecordRejected(f"{name}: bad key: {exc}") from None


@cache
def key_reader(spec: EntitySpec) -> Callable[[Any], Key]:
    """A fast `record_key(spec, ...)` for the hot loop: same result, same `RecordRejected`."""
    if len(spec.key) != 1 or spec.key_types[0].key_value is not same:
        return partial(record_key, spec)
    name, accepted = spec.key[0], spec.key_types[0].json_types

    def read(record: Any) -> Key:
        value = record.get(name) if type(record) is dict else None
        if type(value) in accepted:
            return value
        return record_key(spec, record)

    return read


def key_text(key: Key) -> str:
    """The key as the change log and quarantine store it: the value's text, or a JSON array
    (formatted as PostgreSQL prints `jsonb_build_array(...)::text`) for a composite key."""
    if isinstance(key, tuple):
        return json.dumps(list(key), ensure_ascii=False)
    return str(key)


class _RowPlan:
    """Per spec: how to pull a record's column values and which value shapes are known good."""

    def __init__(self, spec: EntitySpec) -> None:
        self.names = spec.column_names
        self.get_all: Callable[[dict], Any] = itemgetter(*self.names)
        self.columns = [(c.name, c.type, c.required or c.name in spec.key) for c in spec.columns]
        self.validators = [
            (i, c.type.validate) for i, c in enumerate(spec.columns) if c.type.validate
        ]
        self.serializers = [
            (i, c.type.serialize) for i, c in enumerate(spec.columns) if c.type.serialize
        ]
        self.known = spec.known_fields
        self.shapes: set[tuple[type, ...]] = set()

    def values(self, record: dict) -> tuple[tuple, bool]:
        """The record's column values (None for a missing field), and whether the record holds
        exactly the spec's fields: every one of them and nothing else, so no `extra`."""
        try:
            found = self.get_all(record)
        except KeyError:
            return tuple(record.get(name) for name in self.names), False
        exact = len(record) == len(self.names)
        return (found, exact) if len(self.names) > 1 else ((found,), exact)

    def check_shape(self, values: tuple, shape: tuple[type, ...]) -> None:
        for value, (name, ctype, required) in zip(values, self.columns):
            if value is None:
                if required:
                    raise RecordRejected(f"{name}: missing required field")
            elif type(value) not in ctype.json_types:
                raise RecordRejected(f"{name}: expected {ctype.expects}, got {describe(value)}")
        if len(self.shapes) < MAX_KNOWN_SHAPES:
            self.shapes.add(shape)


@cache
def _row_plan(spec: EntitySpec) -> _RowPlan:
    return _RowPlan(spec)


def record_row(spec: EntitySpec, record: dict, fingerprint: bytes) -> list:
    """The COPY row of `record` in `spec.copy_columns` order; raises `RecordRejected`."""
    plan = _row_plan(spec)
    values, exact = plan.values(record)
    shape = tuple(map(type, values))
    if shape not in plan.shapes:
        plan.check_shape(values, shape)
    for index, validate in plan.validators:
        if values[index] is not None:
            try:
                validate(values[index])
            except INVALID:
                raise RecordRejected(
                    f"{plan.names[index]}: not {spec.columns[index].type.expects}: "
                    f"{describe(values[index])}"
                ) from None
    row = list(values)
    for index, serialize in plan.serializers:
        if row[index] is not None:
            try:
                row[index] = serialize(row[index])
            except BadValue as exc:
                raise RecordRejected(f"{plan.names[index]}: {exc}") from None
    if exact or plan.known.issuperset(record):
        row.append(None)
    else:
        try:
            row.append(serialize_jsonb({k: v for k, v in record.items() if k not in plan.known}))
        except BadValue as exc:
            raise RecordRejected(f"extra fields: {exc}") from None
    row.append(fingerprint)
    return row


def raw_json(record: Any) -> str:
    """`record` as JSON text for the quarantine, whatever it holds (NUL escaped as \\u0000).

    Falls back to the standard library (ASCII-escaped) for values orjson refuses, such as lone
    surrogates or integers beyond 64 bits, and to `repr` for what is not JSON at all.
    """
    try:
        return orjson.dumps(record).decode()
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:
        return json.dumps(record, ensure_ascii=True, default=repr)
    except (TypeError, ValueError):
        return json.dumps(repr(record))
