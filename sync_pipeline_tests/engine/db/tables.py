"""Throwaway tables for the engine tests, with their specs (the engine is generic; cars is one
user).

`items`: bigint key, a scope column (`shop`), every common column type, one volatile column.
`entries`: a composite (text, bigint) key, like a leaderboard entry per region.
"""

from __future__ import annotations

import psycopg

from sync_pipeline.engine.column_types import (
    BIGINT,
    INTEGER,
    JSONB,
    TEXT,
    TIMESTAMPTZ,
    UUID,
    numeric,
)
from sync_pipeline.engine.entity import Column, EntitySpec

BOOKKEEPING_DDL = """
    extra jsonb,
    fingerprint bytea NOT NULL,
    deleted_at timestamptz,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    synced_at timestamptz NOT NULL DEFAULT now(),
    last_run_id text NOT NULL
"""

ITEMS_DDL = f"""
CREATE TABLE items (
    id bigint PRIMARY KEY,
    shop text,
    name text,
    qty integer,
    price numeric(10,2),
    tags jsonb,
    ref uuid,
    seen_at timestamptz,
    {BOOKKEEPING_DDL}
)"""

ENTRIES_DDL = f"""
CREATE TABLE entries (
    region text,
    character_id bigint,
    rating integer,
    PRIMARY KEY (region, character_id),
    {BOOKKEEPING_DDL}
)"""

ITEMS = EntitySpec(
    source="shopapi",
    table="items",
    key=("id",),
    columns=(
        Column("id", BIGINT),
        Column("shop", TEXT),
        Column("name", TEXT, required=True),
        Column("qty", INTEGER),
        Column("price", numeric(10, 2)),
        Column("tags", JSONB),
        Column("ref", UUID),
        Column("seen_at", TIMESTAMPTZ),
    ),
    volatile=frozenset({"seen_at", "fetched_at"}),
)

SHOP_ITEMS = EntitySpec(
    source=ITEMS.source,
    table=ITEMS.table,
    key=ITEMS.key,
    columns=ITEMS.columns,
    volatile=ITEMS.volatile,
    scope=("shop",),
)

ENTRIES = EntitySpec(
    source="pvp",
    table="entries",
    key=("region", "character_id"),
    columns=(Column("region", TEXT), Column("character_id", BIGINT), Column("rating", INTEGER)),
)


def create_test_tables(conn: psycopg.Connection) -> None:
    conn.execute(ITEMS_DDL)
    conn.execute(ENTRIES_DDL)


def item(id: int, shop: str = "s1", **fields) -> dict:
    """An `items` record as an API would send it."""
    record = {
        "id": id,
        "shop": shop,
        "name": f"item {id}",
        "qty": id % 7,
        "price": f"{id % 100}.50",
        "tags": {"colour": "red", "sizes": [1, 2]},
        "ref": None,
        "seen_at": "2026-01-01T00:00:00Z",
    }
    record.update(fields)
    return record
