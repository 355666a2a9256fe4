"""Read the upstream catalogue and the `cars` table into comparable Python values."""

from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import psycopg
from psycopg import sql

FIELDS = (
    "id",
    "vin",
    "make",
    "model",
    "year",
    "trim",
    "price",
    "mileage",
    "color",
    "fuel",
    "dealer",
    "features",
    "listed_at",
    "updated_at",
    "scraped_at",
    "views",
)
TIMESTAMPS = {"listed_at", "updated_at", "scraped_at"}


def upstream_cars(base_url: str) -> dict[int, dict[str, Any]]:
    cars: dict[int, dict[str, Any]] = {}
    page = 1
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while True:
            body = client.get("/cars", params={"page": page, "page_size": 1000}).json()
            for car in body["items"]:
                cars[car["id"]] = normalise(car)
            if page * 1000 >= body["total"]:
                return cars
            page += 1


def normalise(car: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in FIELDS:
        value = car.get(name)
        if name in TIMESTAMPS and value is not None:
            value = datetime.fromisoformat(value)
        elif name == "price" and value is not None:
            value = Decimal(value)
        out[name] = value
    return out


def stored_cars(conninfo: str, live_only: bool = True) -> dict[int, dict[str, Any]]:
    query = sql.SQL("SELECT {} FROM cars {}").format(
        sql.SQL(", ").join(map(sql.Identifier, FIELDS)),
        sql.SQL("WHERE deleted_at IS NULL" if live_only else ""),
    )
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(query).fetchall()
    return {row[0]: dict(zip(FIELDS, row)) for row in rows}


VOLATILE = ("updated_at", "scraped_at", "views")


def business_fields(cars: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The cars without their volatile fields (stored rows keep those of the last real change)."""
    return {
        car_id: {k: v for k, v in car.items() if k not in VOLATILE} for car_id, car in cars.items()
    }
