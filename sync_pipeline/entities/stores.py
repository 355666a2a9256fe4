"""The `/stores` API (upstream-api.md section 3) as stored in tables `stores`, `store_users` and
`store_videos` (sql/007_stores.sql).

Store users and videos are keyed `(store_code, id)` and scoped by `store_code`: each store is
synced as one full snapshot of its own, which soft-deletes only that store's missing rows.
"""

from __future__ import annotations

from sync_pipeline.engine.column_types import BIGINT, INTEGER, TEXT, TIMESTAMPTZ
from sync_pipeline.engine.entity import Column, EntitySpec

STORES = EntitySpec(
    source="stores",
    table="stores",
    key=("code",),
    columns=(
        Column("code", TEXT),
        Column("name", TEXT),
        Column("region", TEXT),
        Column("currency", TEXT),
        Column("status", TEXT),
        Column("updated_at", TIMESTAMPTZ),
    ),
    volatile=frozenset({"updated_at"}),
)

STORE_USERS = EntitySpec(
    source="stores",
    table="store_users",
    key=("store_code", "id"),
    columns=(
        Column("store_code", TEXT),
        Column("id", BIGINT),
        Column("handle", TEXT),
        Column("display_name", TEXT),
        Column("role", TEXT),
        Column("followers", BIGINT),
        Column("joined_at", TIMESTAMPTZ),
        Column("updated_at", TIMESTAMPTZ),
    ),
    volatile=frozenset({"updated_at"}),
    scope=("store_code",),
)

STORE_VIDEOS = EntitySpec(
    source="stores",
    table="store_videos",
    key=("store_code", "id"),
    columns=(
        Column("store_code", TEXT),
        Column("id", BIGINT),
        Column("title", TEXT),
        Column("duration_s", INTEGER),
        Column("views", BIGINT),
        Column("likes", BIGINT),
        Column("comments", BIGINT),
        Column("shares", BIGINT),
        Column("published_at", TIMESTAMPTZ),
        Column("updated_at", TIMESTAMPTZ),
    ),
    volatile=frozenset({"updated_at"}),
    scope=("store_code",),
)
