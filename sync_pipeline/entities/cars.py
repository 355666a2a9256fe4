"""The `/cars` catalogue (upstream-api.md section 2) as stored in table `cars`
(sql/003_cars.sql)."""

from __future__ import annotations

from sync_pipeline.engine.column_types import BIGINT, INTEGER, JSONB, TEXT, TIMESTAMPTZ, numeric
from sync_pipeline.engine.entity import Column, EntitySpec

CARS = EntitySpec(
    source="cars",
    table="cars",
    key=("id",),
    columns=(
        Column("id", BIGINT),
        Column("vin", TEXT),
        Column("make", TEXT),
        Column("model", TEXT),
        Column("year", INTEGER),
        Column("trim", TEXT),
        Column("price", numeric(12, 2)),
        Column("mileage", BIGINT),
        Column("color", TEXT),
        Column("fuel", TEXT),
        Column("dealer", JSONB),
        Column("features", JSONB),
        Column("listed_at", TIMESTAMPTZ),
        Column("updated_at", TIMESTAMPTZ),
        Column("scraped_at", TIMESTAMPTZ),
        Column("views", BIGINT),
    ),
    volatile=frozenset({"updated_at", "scraped_at", "views"}),
)
