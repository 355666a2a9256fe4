"""PvP leaderboards (upstream-api.md section 4) as stored by sql/008_pvp.sql.

An `Entry` becomes a row of `pvp_leaderboard_entries` (rank, rating and its `stats` flattened
into played, won, lost) and its `character` a row of `pvp_characters`, keyed by the upstream
character id and the region. Equipment payloads fill `pvp_equipment_items` (the catalogue) and
`pvp_equipped_items` (what a character wears, one row per slot). `parse_entry` and
`parse_equipment` type a payload against these specs, or say why it cannot be stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xxhash

from sync_pipeline.engine.column_types import (
    BIGINT,
    INTEGER,
    JSONB,
    TEXT,
    BadValue,
    contains_nul,
    serialize_jsonb,
)
from sync_pipeline.engine.entity import Column, EntitySpec
from sync_pipeline.engine.records import RecordRejected
from sync_pipeline.engine.sanitize import NulInName, strip_nul

REGIONS = ("us", "eu", "kr", "tw")
BRACKETS = ("2v2", "3v3", "rbg", "shuffle")

PVP_CHARACTERS = EntitySpec(
    source="pvp",
    table="pvp_characters",
    key=("character_id", "region"),
    columns=(
        Column("character_id", BIGINT),
        Column("region", TEXT),
        Column("name", TEXT, required=True),
        Column("realm", TEXT, required=True),
        Column("class", TEXT),
        Column("spec", TEXT),
        Column("faction", TEXT),
    ),
)
PVP_LEADERBOARD_ENTRIES = EntitySpec(
    source="pvp",
    table="pvp_leaderboard_entries",
    key=("rank",),
    columns=(
        Column("rank", INTEGER),
        Column("rating", INTEGER, required=True),
        Column("character", JSONB, required=True),
        Column("stats", JSONB, required=True),
    ),
)
PVP_STATS = (
    Column("played", INTEGER, required=True),
    Column("won", INTEGER, required=True),
    Column("lost", INTEGER, required=True),
)
PVP_EQUIPMENT_ITEMS = EntitySpec(
    source="pvp",
    table="pvp_equipment_items",
    key=("id",),
    columns=(
        Column("id", BIGINT),
        Column("name", TEXT, required=True),
        Column("quality", TEXT),
        Column("item_level", INTEGER),
    ),
)


@dataclass(frozen=True)
class EntryRow:
    """One typed leaderboard entry: the character's columns, then the entry's."""

    character_id: int
    name: str
    realm: str
    character_class: str | None
    spec: str | None
    faction: str | None
    character_extra: str | None
    rank: int
    rating: int
    played: int
    won: int
    lost: int
    entry_extra: str | None


@dataclass(frozen=True)
class EquippedItem:
    slot: str
    item_id: int
    name: str
    quality: str | None
    item_level: int | None
    enchantments: str


@dataclass(frozen=True)
class Equipment:
    """A character's equipped items, and the xxh3-128 fingerprint of all of them."""

    character_id: int
    items: tuple[EquippedItem, ...]
    fingerprint: bytes


def parse_entry(entry: Any) -> EntryRow:
    """The typed row of one leaderboard entry; raises `RecordRejected` with the reason.

    NUL characters are stripped from its values, as every other source does: the rest of the
    value is storable, so the entry is not quarantined for them (a NUL in a field name is).
    """
    if type(entry) is not dict:
        raise RecordRejected(f"entry is not a JSON object but {type(entry).__name__}")
    try:
        entry = strip_nul(entry)[0]
    except NulInName as exc:
        raise RecordRejected(str(exc)) from None
    top = _typed(entry, PVP_LEADERBOARD_ENTRIES.columns[:2], "")
    character, stats = entry.get("character"), entry.get("stats")
    if type(character) is not dict or type(stats) is not dict:
        raise RecordRejected("character and stats must be JSON objects")
    people = _typed(character, _CHARACTER_FIELDS, "character.")
    counts = _typed(stats, PVP_STATS, "stats.")
    return EntryRow(
        character["id"],
        people["name"],
        people["realm"],
        people["class"],
        people["spec"],
        people["faction"],
        _extra(character, _CHARACTER_KNOWN, "character."),
        top["rank"],
        top["rating"],
        counts["played"],
        counts["won"],
        counts["lost"],
        _extra(entry, PVP_LEADERBOARD_ENTRIES.known_fields, ""),
    )


def parse_equipment(body: Any) -> Equipment:
    """The typed equipment of a `/characters/.../equipment` body.

    Raises `ValueError` (so the HTTP client retries the body as malformed) when it has the
    wrong shape: a missing list, an item without id or name, a value of the wrong type.
    """
    if type(body) is not dict or type(body.get("equipped_items")) is not list:
        raise ValueError("equipment body without an equipped_items list")
    items = []
    for equipped in body["equipped_items"]:
        if type(equipped) is not dict or type(equipped.get("item")) is not dict:
            raise ValueError("equipped item without an item object")
        try:
            item = _typed(equipped["item"], PVP_EQUIPMENT_ITEMS.columns, "item.")
            slot = TEXT.check(equipped.get("slot"))
            enchantments = serialize_jsonb(equipped.get("enchantments") or [])
        except (RecordRejected, BadValue) as exc:
            raise ValueError(str(exc)) from None
        items.append(
            EquippedItem(
                slot, item["id"], item["name"], item["quality"], item["item_level"], enchantments
            )
        )
    items.sort(key=lambda i: i.slot)
    digest = xxhash.xxh3_128_digest(
        repr([(i.slot, i.item_id, i.item_level, i.enchantments) for i in items]).encode()
    )
    return Equipment(body.get("character_id"), tuple(items), digest)


_CHARACTER_FIELDS = (Column("id", BIGINT, required=True), *PVP_CHARACTERS.columns[2:])
_CHARACTER_KNOWN = frozenset(c.name for c in _CHARACTER_FIELDS)


def _typed(record: dict, columns: tuple[Column, ...], prefix: str) -> dict[str, Any]:
    values = {}
    for column in columns:
        value = record.get(column.name)
        if value is None:
            if column.required or column.name == "rank":
                raise RecordRejected(f"{prefix}{column.name}: missing required field")
            values[column.name] = None
            continue
        if contains_nul(value):
            raise RecordRejected(
                f"{prefix}{column.name}: contains a NUL character, which PostgreSQL "
                "text cannot store"
            )
        try:
            values[column.name] = column.type.check(value)
        except BadValue as exc:
            raise RecordRejected(f"{prefix}{column.name}: {exc}") from None
    return values


def _extra(record: dict, known: frozenset[str], prefix: str) -> str | None:
    unknown = {k: v for k, v in record.items() if k not in known}
    if not unknown:
        return None
    try:
        return serialize_jsonb(unknown)
    except BadValue as exc:
        raise RecordRejected(f"{prefix}extra fields: {exc}") from None
