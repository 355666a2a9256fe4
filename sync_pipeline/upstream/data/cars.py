"""Cars: the bulk catalogue (`GET /cars`), generated column-wise with numpy for speed.

`generate_cars(seed, count)` returns the records exactly as the API serves them under the
profiles `none` and `seed` (hostile oddities are layered on at serve time, see `oddities`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np

from sync_pipeline.upstream.clock import DATA_END_MS, DATA_START_MS, DAY_MS, iso_column, iso_from_ms
from sync_pipeline.upstream.data.rng import increasing_ids, pick, spread_ms, stream
from sync_pipeline.upstream.data.vocab import CITIES, LAST_NAMES

FIRST_CAR_ID = 100_000
CHUNK = 20_000

# (make, model, new price in dollars, usual fuel, VIN world manufacturer id)
MODELS: tuple[tuple[str, str, int, str, str], ...] = (
    ("Toyota", "Camry", 28_000, "gasoline", "4T1"),
    ("Toyota", "Corolla", 22_500, "gasoline", "2T1"),
    ("Toyota", "RAV4", 30_500, "gasoline", "2T3"),
    ("Toyota", "Prius", 28_500, "hybrid", "JTD"),
    ("Toyota", "Tacoma", 33_000, "gasoline", "3TM"),
    ("Honda", "Civic", 24_000, "gasoline", "2HG"),
    ("Honda", "Accord", 28_500, "gasoline", "1HG"),
    ("Honda", "CR-V", 31_000, "gasoline", "7FA"),
    ("Ford", "F-150", 41_000, "gasoline", "1FT"),
    ("Ford", "Escape", 29_000, "gasoline", "1FM"),
    ("Ford", "Mustang Mach-E", 43_000, "electric", "3FM"),
    ("Chevrolet", "Silverado 1500", 40_000, "gasoline", "1GC"),
    ("Chevrolet", "Equinox", 27_500, "gasoline", "2GN"),
    ("Chevrolet", "Bolt EV", 27_000, "electric", "1G1"),
    ("Nissan", "Altima", 26_500, "gasoline", "1N4"),
    ("Nissan", "Rogue", 29_000, "gasoline", "JN8"),
    ("Hyundai", "Tucson", 28_000, "gasoline", "KM8"),
    ("Hyundai", "Ioniq 5", 42_000, "electric", "KM8"),
    ("Kia", "Sorento", 31_500, "diesel", "5XY"),
    ("Kia", "Niro", 27_000, "plug-in hybrid", "KND"),
    ("Subaru", "Outback", 30_000, "gasoline", "4S4"),
    ("Subaru", "Forester", 28_500, "gasoline", "JF2"),
    ("Tesla", "Model 3", 40_000, "electric", "5YJ"),
    ("Tesla", "Model Y", 45_000, "electric", "7SA"),
    ("BMW", "330i", 44_000, "gasoline", "WBA"),
    ("BMW", "X5 xDrive40i", 65_000, "gasoline", "5UX"),
    ("Mercedes-Benz", "C 300", 46_000, "gasoline", "W1K"),
    ("Mercedes-Benz", "GLC 300", 48_000, "gasoline", "W1N"),
    ("Volkswagen", "Jetta", 22_000, "gasoline", "3VW"),
    ("Volkswagen", "Golf GTI", 31_000, "gasoline", "WVW"),
    ("Škoda", "Octavia", 27_000, "diesel", "TMB"),
    ("Citroën", "C5 Aircross", 32_000, "plug-in hybrid", "VR7"),
    ("Mazda", "CX-5", 29_000, "gasoline", "JM3"),
    ("Jeep", "Grand Cherokee", 42_000, "gasoline", "1C4"),
    ("Audi", "Q5", 46_000, "gasoline", "WA1"),
    ("Volvo", "XC60 Recharge", 55_000, "plug-in hybrid", "YV4"),
)
MODEL_WEIGHTS = (
    9,
    9,
    9,
    5,
    6,
    9,
    8,
    8,
    10,
    6,
    3,
    9,
    6,
    2,
    6,
    7,
    5,
    2,
    4,
    2,
    5,
    5,
    5,
    5,
    3,
    2,
    3,
    3,
    4,
    2,
    1,
    1,
    5,
    4,
    3,
    2,
)
TRIMS: tuple[str, ...] = (
    "LE",
    "XLE",
    "SE",
    "EX",
    "EX-L",
    "LX",
    "Sport",
    "Limited",
    "Touring",
    "Premium",
    "Platinum",
    "Base",
    "S",
    "SV",
    "SL",
    "Long Range",
    "Première",
    "Laurin & Klement",
)
COLORS: tuple[str, ...] = (
    "White",
    "Black",
    "Silver",
    "Gray",
    "Blue",
    "Red",
    "Green",
    "Brown",
    "Beige",
    "Midnight Blue",
    "Pearl White",
    "Magnetic Gray Metallic",
    "Bleu Céleste",
)
COLOR_WEIGHTS = (24, 22, 14, 16, 9, 8, 2, 1, 1, 1, 1, 1, 0.3)
FEATURES: tuple[str, ...] = (
    "Bluetooth",
    "Backup Camera",
    "Heated Seats",
    "Sunroof",
    "Navigation",
    "Apple CarPlay",
    "Android Auto",
    "Leather Seats",
    "Blind Spot Monitor",
    "Adaptive Cruise Control",
    "Third Row Seating",
    "Remote Start",
    "Keyless Entry",
    "Lane Keeping Assist",
    "Tow Package",
    "All-Wheel Drive",
)
DEALER_SUFFIXES = ("Motors", "Auto Group", "Autohaus", "Auto Sales", "Car Center", "Automotive")

_VIN_ALPHABET = np.frombuffer(b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789", dtype=np.uint8)
_VIN_WEIGHTS = np.array([8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)
_VIN_VALUES = np.zeros(256, dtype=np.int64)
for _chars, _values in (
    ("0123456789", range(10)),
    ("ABCDEFGH", range(1, 9)),
    ("JKLMN", range(1, 6)),
    ("P", [7]),
    ("R", [9]),
    ("STUVWXYZ", range(2, 10)),
):
    for _char, _value in zip(_chars, _values):
        _VIN_VALUES[ord(_char)] = _value
_YEAR_CODES = {
    year: code for year, code in zip(range(2001, 2031), "123456789ABCDEFGHJKLMNPRSTVWXY")
}


def generate_cars(seed: int, count: int) -> list[dict[str, Any]]:
    """The first `count` cars of the catalogue for `seed`, as JSON-ready dicts in id order.

    Same (seed, count), same records: the reference upstream serves exactly these (under the
    profiles `none` and `seed`) until `/_admin/mutate` changes them.
    """
    return [
        {**car, "dealer": dict(car["dealer"]), "features": list(car["features"])}
        for chunk, _ in iter_car_chunks(seed, count)
        for car in chunk
    ]


def iter_car_chunks(seed: int, count: int) -> Iterator[tuple[list[dict[str, Any]], np.ndarray]]:
    """The catalogue in chunks of (cars, their updated_at in ms), so the server never holds all cars
    as dicts at once. Cars of a chunk share dealer dicts and feature lists: serialize, don't
    edit."""
    rng = stream(seed, "cars")
    ids = increasing_ids(rng, FIRST_CAR_ID, count)
    dealers = generate_dealers(seed, dealer_count(count))
    for start in range(0, count, CHUNK):
        chunk_ids = ids[start : start + CHUNK]
        yield car_records(rng, chunk_ids, dealers, DATA_START_MS, DATA_END_MS)


def dealer_count(car_count: int) -> int:
    return max(20, car_count // 120)


def generate_dealers(seed: int, count: int) -> list[dict[str, Any]]:
    rng = stream(seed, "dealers")
    cities, surnames = pick(rng, CITIES, count), pick(rng, LAST_NAMES, count)
    makes, styles, suffixes = (
        pick(rng, MODELS, count),
        rng.integers(0, 3, count),
        pick(rng, DEALER_SUFFIXES, count),
    )
    dealers = []
    for index in range(count):
        city, state = CITIES[cities[index]]
        make, surname, suffix = (
            MODELS[makes[index]][0],
            LAST_NAMES[surnames[index]],
            DEALER_SUFFIXES[suffixes[index]],
        )
        name = (f"{city} {make}", f"{surname} {make} {suffix}", f"{surname} {suffix} of {city}")[
            styles[index]
        ]
        dealers.append({"id": 7000 + index * 3, "name": name, "city": city, "state": state})
    return dealers


def car_records(
    rng: np.random.Generator,
    ids: np.ndarray,
    dealers: list[dict[str, Any]],
    window_start_ms: int,
    window_end_ms: int,
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Cars with the given ids, last updated inside [window_start_ms, window_end_ms), and those
    `updated_at` stamps in ms."""
    n = len(ids)
    model = pick(rng, MODELS, n, MODEL_WEIGHTS)
    year = np.clip(2026 - rng.binomial(16, 0.3, n), 2008, 2026)
    age = 2026 - year
    trim = rng.integers(0, len(TRIMS) + 3, n)  # the last 3 slots mean "no trim"
    driven = (age * rng.normal(12_500, 3_500, n)).clip(500)
    mileage = np.where(age == 0, rng.integers(3, 120, n), driven).astype(np.int64)
    base = np.array([m[2] for m in MODELS])[model]
    price = base * 0.87**age * rng.uniform(0.9, 1.12, n) - mileage * 0.02
    price = (np.maximum(price, 1_500) // 50 * 50 - (rng.random(n) < 0.3)).astype(np.int64)
    listed = spread_ms(rng, window_end_ms - 180 * DAY_MS, window_end_ms - 3_600_000, n)
    updated = spread_ms(rng, np.maximum(listed, window_start_ms), window_end_ms, n)
    scraped = updated + rng.integers(0, 6 * 3_600_000, n)
    columns = zip(
        ids.tolist(),
        vins(rng, model, year, ids).tolist(),
        model.tolist(),
        year.tolist(),
        trim.tolist(),
        price.tolist(),
        mileage.tolist(),
        pick(rng, COLORS, n, COLOR_WEIGHTS).tolist(),
        rng.integers(0, len(dealers), n).tolist(),
        _feature_masks(rng, n).tolist(),
        iso_column(listed),
        iso_column(updated),
        iso_column(scraped),
        (rng.gamma(1.3, 350, n)).astype(np.int64).tolist(),
    )
    return [_car(*row, dealers) for row in columns], updated


def _car(
    car_id: int,
    vin: str,
    model: int,
    year: int,
    trim: int,
    price: int,
    mileage: int,
    color: int,
    dealer: int,
    features: int,
    listed_at: str,
    updated_at: str,
    scraped_at: str,
    views: int,
    dealers: list[dict[str, Any]],
) -> dict[str, Any]:
    make, model_name, _, fuel, _ = MODELS[model]
    return {
        "id": car_id,
        "vin": vin,
        "make": make,
        "model": model_name,
        "year": year,
        "trim": TRIMS[trim] if trim < len(TRIMS) else None,
        "price": f"{price}.00",
        "mileage": mileage,
        "color": COLORS[color],
        "fuel": fuel,
        "dealer": dealers[dealer],
        "features": _feature_list(features),
        "listed_at": listed_at,
        "updated_at": updated_at,
        "scraped_at": scraped_at,
        "views": views,
    }


def _feature_masks(rng: np.random.Generator, n: int) -> np.ndarray:
    """One bit per entry of FEATURES, each set with probability 0.3."""
    return (rng.random((n, len(FEATURES))) < 0.3) @ (1 << np.arange(len(FEATURES)))


@cache
def _feature_list(mask: int) -> list[str]:
    return [name for bit, name in enumerate(FEATURES) if mask >> bit & 1]


def vins(
    rng: np.random.Generator, model: np.ndarray, year: np.ndarray, ids: np.ndarray
) -> np.ndarray:
    """Valid 17-character VINs (check digit included); the serial comes from the id, so they are
    unique."""
    n = len(ids)
    chars = np.empty((n, 17), dtype=np.uint8)
    wmi = np.frombuffer("".join(m[4] for m in MODELS).encode(), dtype=np.uint8).reshape(-1, 3)
    chars[:, 0:3] = wmi[model]
    chars[:, 3:8] = _VIN_ALPHABET[rng.integers(0, len(_VIN_ALPHABET), (n, 5))]
    year_codes = np.frombuffer(
        "".join(_YEAR_CODES[y] for y in range(2008, 2027)).encode(), dtype=np.uint8
    )
    chars[:, 9] = year_codes[year - 2008]
    chars[:, 10] = _VIN_ALPHABET[rng.integers(0, 23, n)]
    serial = ids % 1_000_000
    for position in range(6):
        chars[:, 16 - position] = ord("0") + serial // 10**position % 10
    chars[:, 8] = 0
    check = (_VIN_VALUES[chars] * _VIN_WEIGHTS).sum(axis=1) % 11
    chars[:, 8] = np.where(check == 10, ord("X"), ord("0") + check)
    return chars.view("S17").ravel().astype("U17")


def update_car(car: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    """A business change: a new price and mileage (the listing was edited), then a touch."""
    dollars = int(car["price"].split(".")[0]) * rng.uniform(0.9, 0.99)
    car["price"] = f"{int(dollars) // 50 * 50}.00"
    car["mileage"] = int(car["mileage"]) + int(rng.integers(10, 900))
    if rng.random() < 0.3:
        car["features"] = list(_feature_list(int(rng.integers(0, 1 << len(FEATURES)))))
    touch_car(car, rng, stamp_ms)


def touch_car(car: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    """Only the volatile fields move: `updated_at`, `scraped_at`, `views`."""
    car["updated_at"] = car["scraped_at"] = iso_from_ms(stamp_ms)
    car["views"] = int(car["views"]) + int(rng.integers(1, 50))


def new_cars(
    rng: np.random.Generator, ids: np.ndarray, dealers: list[dict[str, Any]], stamp_ms: int
) -> list[dict[str, Any]]:
    cars, _ = car_records(rng, ids, dealers, stamp_ms, stamp_ms + 1)
    stamp = iso_from_ms(stamp_ms)
    for car in cars:
        car["listed_at"] = car["updated_at"] = car["scraped_at"] = stamp
        car["views"] = 0
    return cars
