"""Column types: which JSON values a column takes, and how they travel in a text COPY row.

Python checks the JSON *type* of every value (a string where an integer belongs is rejected
here, with a reason), and the form of strings where PostgreSQL is more lenient than the contract
(it would read "yesterday" as a timestamp and "NaN" as a number). PostgreSQL's input functions
check the rest when the row is COPYed (a number out of range, an invalid UUID), and the staging
COPY quarantines just the rows it refuses. Values pass through as received, except jsonb, which
is serialised here. Keys are normalised to the text PostgreSQL prints for them, so stored and
fetched keys compare equal in Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

NUL_ESCAPE = b"\\u0000"
_BACKSLASH = ord("\\")


class BadValue(ValueError):
    """A JSON value that its column cannot hold; `str(exc)` says why, for the quarantine."""


INVALID = (ValueError, ArithmeticError)
"""What a `validate` function raises for a value of the right JSON type but the wrong form."""


@dataclass(frozen=True, eq=False)
class ColumnType:
    """A PostgreSQL column type as the sync engine writes it.

    - `sql_name`: the type as `format_type()` prints it (checked against the table);
    - `expects`: what a value should be, for rejection reasons;
    - `json_types`: the Python types of the JSON values it takes (bool is not an int here);
    - `validate`: called on a value of an accepted type, for its errors only (`INVALID`);
    - `serialize`: turns an accepted value into its COPY form, when passing it as is will not do;
    - `key_value`: normalises a key value to what reading the key back returns (None: not a
      key type); `key_cast` is the SQL cast applied when reading keys back.
    """

    sql_name: str
    expects: str
    json_types: tuple[type, ...]
    validate: Callable[[Any], Any] | None = None
    serialize: Callable[[Any], Any] | None = None
    key_value: Callable[[Any], Any] | None = None
    key_cast: str | None = None

    def check(self, value: Any) -> Any:
        """`value` in its COPY form; raises `BadValue` when the column cannot take it."""
        if type(value) not in self.json_types:
            raise BadValue(f"expected {self.expects}, got {describe(value)}")
        if self.validate:
            try:
                self.validate(value)
            except INVALID:
                raise BadValue(f"not {self.expects}: {describe(value)}") from None
        return self.serialize(value) if self.serialize else value


def describe(value: Any) -> str:
    """A short description of an offending value for a rejection reason."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def contains_nul(value: Any) -> bool:
    """Whether a NUL character occurs in any string of `value`, keys of objects included."""
    if type(value) is str:
        return "\x00" in value
    if type(value) is dict:
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if type(value) is list:
        return any(contains_nul(v) for v in value)
    return False


def holds_nul_escape(encoded: bytes) -> bool:
    """Whether JSON text holds an escaped NUL character (`\\u0000`).

    Every escape starts with a backslash, which most records' text lacks: looking for that one
    byte first (a memchr) costs a tenth of looking for the six, whose last byte, "0", is common
    in the digits of a record's text (0.29 against 0.03 us per car).
    """
    return _BACKSLASH in encoded and NUL_ESCAPE in encoded


def serialize_jsonb(value: Any) -> str:
    """`value` as JSON text for a jsonb column; raises `BadValue` for what jsonb cannot hold."""
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise BadValue(f"cannot be stored as JSON: {exc}") from None
    if holds_nul_escape(encoded) and contains_nul(value):
        raise BadValue("contains a NUL character, which PostgreSQL jsonb cannot store")
    return encoded.decode()


def same(value: Any) -> Any:
    """The `key_value` of types whose JSON value already is what PostgreSQL prints back."""
    return value


def _finite_decimal(value: str | float) -> None:
    if not Decimal(value if type(value) is not float else repr(value)).is_finite():
        raise ValueError("not finite")


def _uuid_text(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadValue(f"not a UUID: {describe(value)}") from None


def _date_text(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise BadValue(f"not an ISO 8601 date: {describe(value)}") from None


_INT = (int,)
_STR = (str,)
_NUMBER = (int, float)
_JSON = (dict, list, str, int, float, bool)

SMALLINT = ColumnType("smallint", "an integer", _INT, key_value=same)
INTEGER = ColumnType("integer", "an integer", _INT, key_value=same)
BIGINT = ColumnType("bigint", "an integer", _INT, key_value=same)
TEXT = ColumnType("text", "a string", _STR, key_value=same)
BOOLEAN = ColumnType("boolean", "true or false", (bool,))
DOUBLE = ColumnType("double precision", "a number", _NUMBER)
TIMESTAMPTZ = ColumnType(
    "timestamp with time zone",
    "an ISO 8601 timestamp string",
    _STR,
    validate=datetime.fromisoformat,
)
DATE = ColumnType(
    "date",
    "an ISO 8601 date string",
    _STR,
    validate=date.fromisoformat,
    key_value=_date_text,
    key_cast="text",
)
UUID = ColumnType("uuid", "a UUID string", _STR, key_value=_uuid_text, key_cast="text")
JSONB = ColumnType("jsonb", "a JSON value", _JSON, serialize=serialize_jsonb)


def numeric(precision: int, scale: int) -> ColumnType:
    """`numeric(precision, scale)`: decimal strings (as the contract sends them) or numbers."""
    return ColumnType(
        f"numeric({precision},{scale})",
        "a finite decimal string or number",
        (str, int, float),
        validate=_finite_decimal,
    )
