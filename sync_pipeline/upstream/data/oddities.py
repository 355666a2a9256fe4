"""Hostile data: the record-level oddities of "What a client must survive".

Under the `hostile` profile a fixed few records of every kind are served odd: a NUL byte, emoji,
10 kB of text, unknown extra fields, a missing optional field or a value of the wrong type.
Which records, and how, depends only on (seed, kind, key), so the same record is odd the same way
on every fetch, and the normal form is what every other profile serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import xxhash

from sync_pipeline.upstream.data.table import RecordTable, to_blob

# Share of records of each kind that get each oddity (a record gets at most one).
ODDITY_RATES: tuple[tuple[str, float], ...] = (
    ("nul", 0.003),
    ("emoji", 0.005),
    ("long_text", 0.001),
    ("extra_fields", 0.01),
    ("missing_optional", 0.005),
    ("wrong_type", 0.002),
)
EMOJI = " ✨👩🏽‍💻🇯🇵🔥"
_PHRASE = (
    "Lorem ipsum dolor sit amet — ünïcödé ✓ 日本語のテキスト, Ελληνικά, עברית, русский текст. "
)
LONG_TEXT = (_PHRASE * (10_240 // len(_PHRASE) + 1))[:10_240]
EXTRA_FIELDS = {
    "x_trace_id": "7f9c2ab4e1d04c55",
    "_links": {"self": {"href": "/v2/legacy"}},
    "legacy_ref": None,
}


@dataclass(frozen=True)
class OddityFields:
    """Where each oddity goes for one kind of record (dotted paths; None: that oddity cannot
    apply)."""

    text: str | None
    long_text: str | None
    optional: str | None
    wrong_type: tuple[str, Any] | None


ODDITY_FIELDS: dict[str, OddityFields] = {
    "cars": OddityFields("model", "trim", "trim", ("mileage", "87k mi")),
    "users": OddityFields("name", "name", "team_id", ("team_id", "team-42")),
    "stores": OddityFields("name", "name", None, ("status", {"code": "open"})),
    "store_users": OddityFields("display_name", "display_name", None, ("followers", "12.5K")),
    "store_videos": OddityFields("title", "title", None, ("duration_s", "PT4M13S")),
    "contacts": OddityFields("name", "custom_fields.notes", "owner_id", ("owner_id", "owner-17")),
    "pvp": OddityFields("character.spec", None, None, ("rating", "2400+")),
}


def oddity_of(seed: int, kind: str, key: Any) -> str | None:
    """The oddity this record has under `hostile`, if any."""
    draw = xxhash.xxh64_intdigest(f"{kind}:{key}".encode(), seed & 0xFFFFFFFFFFFFFFFF) / 2**64
    fields = ODDITY_FIELDS[kind]
    for name, rate in ODDITY_RATES:
        if draw < rate:
            return name if _applies(name, fields) else None
        draw -= rate
    return None


def _applies(name: str, fields: OddityFields) -> bool:
    return {
        "nul": fields.text,
        "emoji": fields.text,
        "long_text": fields.long_text,
        "extra_fields": True,
        "missing_optional": fields.optional,
        "wrong_type": fields.wrong_type,
    }[name] is not None


def make_odd(record: dict[str, Any], kind: str, oddity: str) -> dict[str, Any]:
    """`record` (changed in place and returned) with the given oddity."""
    fields = ODDITY_FIELDS[kind]
    if oddity == "nul":
        _update(record, fields.text, lambda text: f"{text[:1]}\u0000{text[1:]}")
    elif oddity == "emoji":
        _update(record, fields.text, lambda text: f"{text}{EMOJI}")
    elif oddity == "long_text":
        _update(record, fields.long_text, lambda text: f"{text or ''} {LONG_TEXT}")
    elif oddity == "extra_fields":
        record.update(EXTRA_FIELDS)
    elif oddity == "missing_optional":
        record.pop(fields.optional, None)
    elif oddity == "wrong_type":
        field, value = fields.wrong_type
        _update(record, field, lambda _: value)
    return record


def _update(record: dict[str, Any], path: str, change: Callable[[Any], Any]) -> None:
    *parents, leaf = path.split(".")
    target = record
    for name in parents:
        if not isinstance(target.get(name), dict):
            target[name] = {}
        target = target[name]
    target[leaf] = change(target.get(leaf))


def hostile_blobs(
    seed: int, kind: str, summary_fields: tuple[str, ...] | None = None
) -> Callable[[RecordTable], tuple[list[bytes], list[bytes] | None]]:
    """Builder for `RecordTable.variant`: the table's blobs with the odd records swapped in.

    With `summary_fields` (users) the oddity is applied to the detail and the summary is cut
    from it, so both forms of a record are odd the same way.
    """

    def build(table: RecordTable) -> tuple[list[bytes], list[bytes] | None]:
        blobs = list(table.blobs)
        details = list(table.details) if table.details is not None else None
        for position, key in enumerate(table.keys):
            oddity = oddity_of(seed, kind, key[-1] if isinstance(key, tuple) else key)
            if oddity is None:
                continue
            if details is None:
                blobs[position] = to_blob(make_odd(orjson.loads(blobs[position]), kind, oddity))
                continue
            detail = make_odd(orjson.loads(details[position]), kind, oddity)
            details[position] = to_blob(detail)
            shown = (*summary_fields, *EXTRA_FIELDS)
            blobs[position] = to_blob({name: detail[name] for name in shown if name in detail})
        return blobs, details

    return build


def served_blobs(table: RecordTable, seed: int, kind: str, hostile: bool) -> list[bytes]:
    """The blobs a list serves: the table's own, or with hostile oddities swapped in."""
    return table.variant("hostile", hostile_blobs(seed, kind))[0] if hostile else table.blobs
