"""Stores (`GET /stores`) and each store's users and videos.

Store users and videos live in one table each, keyed `(store_code, id)`, so a store's records
are contiguous and a cursor is just the last key served. Every store has 101-200 users and
301-400 videos: at `limit=100` that is 2 and 4 pages, which the `seed` latencies turn into the
contract's "about 3 s" and "about 7 s" per store.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sync_pipeline.upstream.clock import (
    DATA_END_MS,
    DATA_START_MS,
    DAY_MS,
    iso_column,
    iso_from_ms,
    ms_from_iso,
)
from sync_pipeline.upstream.data.rng import pick, spread_ms, stream
from sync_pipeline.upstream.data.table import RecordTable, Row, to_blob
from sync_pipeline.upstream.data.vocab import FIRST_NAMES, LAST_NAMES, ascii_slug

USERS_PER_STORE = (101, 201)
VIDEOS_PER_STORE = (301, 401)
FIRST_STORE_USER_ID = 500_000
FIRST_VIDEO_ID = 9_000_000

# (city, code prefix, region, currency)
STORE_CITIES: tuple[tuple[str, str, str, str], ...] = (
    ("New York", "NYC", "us-east", "USD"),
    ("Austin", "AUS", "us-central", "USD"),
    ("Seattle", "SEA", "us-west", "USD"),
    ("Toronto", "YYZ", "ca", "CAD"),
    ("Montréal", "YUL", "ca", "CAD"),
    ("México", "MEX", "latam", "MXN"),
    ("São Paulo", "GRU", "latam", "BRL"),
    ("London", "LHR", "eu-west", "GBP"),
    ("Berlin", "BER", "eu-central", "EUR"),
    ("Paris", "CDG", "eu-west", "EUR"),
    ("Kraków", "KRK", "eu-central", "PLN"),
    ("Zürich", "ZRH", "eu-central", "CHF"),
    ("Tokyo", "TYO", "apac", "JPY"),
    ("Seoul", "SEL", "apac", "KRW"),
    ("Sydney", "SYD", "apac", "AUD"),
    ("Singapore", "SIN", "apac", "SGD"),
    ("Mumbai", "BOM", "apac", "INR"),
    ("Lagos", "LOS", "emea", "NGN"),
)
BRANDS = (
    "Northwind Outfitters",
    "Café Lumière",
    "Kōhī Roasters",
    "Blue Fern Studio",
    "Atelier Ombré",
    "Pixel & Pine",
    "Smørrebrød Co.",
    "Mañana Market",
    "Little Wolf Records",
    "Hanami Home",
    "Ironbark Cycles",
    "Oficina Dourada",
    "Zeitgeist Audio",
    "Maison Élan",
    "Tidewater Supply",
)
STORE_STATUSES = ("active", "paused", "closed")
STORE_ROLES = ("owner", "admin", "editor", "creator", "moderator", "viewer")
PRODUCTS = (
    "espresso grinder",
    "linen shirt",
    "trail shoes",
    "vinyl reissue",
    "ceramic mug",
    "desk lamp",
    "rain jacket",
    "pour-over kit",
    "mechanical keyboard",
    "tote bag",
    "cold brew",
    "yoga mat",
)
TITLE_TEMPLATES = (
    "Unboxing the new {p} ✨",
    "How we make our {p}",
    "Behind the scenes at {s}",
    "Sale ends Sunday — 30% off every {p}",
    "{p} review: is it worth it?",
    "A day at {s} 📦",
    "5 ways to use a {p}",
    "Neu bei {s}: {p}",
    "Cómo elegir tu {p}",
    "{s} の新しい {p}",
    "Q&A with the {s} team",
    "Restock alert: {p} is back",
)


def generate_stores(seed: int, count: int) -> tuple[RecordTable, RecordTable, RecordTable]:
    """(stores, store users, videos) for `count` stores."""
    rng = stream(seed, "stores")
    stores = store_records(rng, 1, count)
    users, videos = [], []
    next_user, next_video = FIRST_STORE_USER_ID, FIRST_VIDEO_ID
    for store in stores:
        n_users, n_videos = (
            int(rng.integers(*USERS_PER_STORE)),
            int(rng.integers(*VIDEOS_PER_STORE)),
        )
        user_ids, video_ids = (
            np.arange(next_user, next_user + n_users),
            np.arange(next_video, next_video + n_videos),
        )
        users += _member_rows(
            *store_user_records(rng, store["code"], user_ids, DATA_START_MS, DATA_END_MS)
        )
        videos += _member_rows(*video_records(rng, store, video_ids, DATA_START_MS, DATA_END_MS))
        next_user, next_video = next_user + n_users + 50, next_video + n_videos + 50
    return (
        RecordTable.from_rows([store_row(s) for s in stores]),
        RecordTable.from_rows(users),
        RecordTable.from_rows(videos),
    )


def _member_rows(records: list[dict[str, Any]], updated_ms: np.ndarray) -> list[Row]:
    return [member_row(record, ms) for record, ms in zip(records, updated_ms.tolist())]


def store_row(store: dict[str, Any]) -> Row:
    return Row(store["code"], to_blob(store), ms_from_iso(store["updated_at"]))


def member_row(record: dict[str, Any], updated_ms: int) -> Row:
    """A store user or video, keyed (store_code, id)."""
    return Row((record["store_code"], record["id"]), to_blob(record), updated_ms)


def store_records(rng: np.random.Generator, first_number: int, count: int) -> list[dict[str, Any]]:
    """Stores numbered upwards from `first_number`; numbers are unique across cities, so codes are
    too."""
    cities, brands = pick(rng, STORE_CITIES, count).tolist(), pick(rng, BRANDS, count).tolist()
    statuses = pick(rng, STORE_STATUSES, count, (85, 10, 5)).tolist()
    updated = iso_column(spread_ms(rng, DATA_START_MS, DATA_END_MS, count))
    numbers = (first_number + np.arange(count) * 7 + rng.integers(0, 7, count)).tolist()
    stores = []
    for index in range(count):
        city, prefix, region, currency = STORE_CITIES[cities[index]]
        stores.append(
            {
                "code": f"{prefix}-{numbers[index]:04d}",
                "name": f"{BRANDS[brands[index]]} {city}",
                "region": region,
                "currency": currency,
                "status": STORE_STATUSES[statuses[index]],
                "updated_at": updated[index],
            }
        )
    return stores


def store_user_records(
    rng: np.random.Generator, code: str, ids: np.ndarray, start_ms: int, end_ms: int
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """A store's users, and their `updated_at` in ms."""
    n = len(ids)
    joined = spread_ms(rng, start_ms - 900 * DAY_MS, end_ms - DAY_MS, n)
    updated = spread_ms(rng, np.maximum(joined, start_ms), end_ms, n)
    columns = zip(
        ids.tolist(),
        pick(rng, FIRST_NAMES, n).tolist(),
        pick(rng, LAST_NAMES, n).tolist(),
        pick(rng, STORE_ROLES, n, (1, 2, 6, 10, 3, 20)).tolist(),
        rng.lognormal(5.5, 1.8, n).astype(np.int64).tolist(),
        iso_column(joined),
        iso_column(updated),
    )
    return [_store_user(code, *row) for row in columns], updated


def _store_user(
    code: str,
    user_id: int,
    first: int,
    last: int,
    role: int,
    followers: int,
    joined_at: str,
    updated_at: str,
) -> dict[str, Any]:
    first_name, last_name = FIRST_NAMES[first], LAST_NAMES[last]
    handle = f"{ascii_slug(first_name, '')}_{ascii_slug(last_name, '')}{user_id % 997}"
    return {
        "id": user_id,
        "store_code": code,
        "handle": handle,
        "display_name": f"{first_name} {last_name}",
        "role": STORE_ROLES[role],
        "followers": followers,
        "joined_at": joined_at,
        "updated_at": updated_at,
    }


def video_records(
    rng: np.random.Generator, store: dict[str, Any], ids: np.ndarray, start_ms: int, end_ms: int
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """A store's videos, and their `updated_at` in ms."""
    n = len(ids)
    views = rng.lognormal(7.5, 1.6, n).astype(np.int64)
    likes = (views * rng.uniform(0.01, 0.09, n)).astype(np.int64)
    comments = (likes * rng.uniform(0.02, 0.2, n)).astype(np.int64)
    shares = (likes * rng.uniform(0.0, 0.3, n)).astype(np.int64)
    published = spread_ms(rng, start_ms - 700 * DAY_MS, end_ms - DAY_MS, n)
    titles = [
        TITLE_TEMPLATES[t].format(p=PRODUCTS[p], s=store["name"])
        for t, p in zip(pick(rng, TITLE_TEMPLATES, n).tolist(), pick(rng, PRODUCTS, n).tolist())
    ]
    updated = spread_ms(rng, np.maximum(published, start_ms), end_ms, n)
    columns = zip(
        ids.tolist(),
        titles,
        rng.integers(12, 1800, n).tolist(),
        views.tolist(),
        likes.tolist(),
        comments.tolist(),
        shares.tolist(),
        iso_column(published),
        iso_column(updated),
    )
    return [_video(store["code"], *row) for row in columns], updated


def _video(
    code: str,
    video_id: int,
    title: str,
    duration_s: int,
    views: int,
    likes: int,
    comments: int,
    shares: int,
    published_at: str,
    updated_at: str,
) -> dict[str, Any]:
    return {
        "id": video_id,
        "store_code": code,
        "title": title,
        "duration_s": duration_s,
        "views": views,
        "likes": likes,
        "comments": comments,
        "shares": shares,
        "published_at": published_at,
        "updated_at": updated_at,
    }


def update_store(store: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    store["status"] = STORE_STATUSES[
        (STORE_STATUSES.index(store["status"]) + 1) % len(STORE_STATUSES)
    ]
    store["updated_at"] = iso_from_ms(stamp_ms)


def update_store_user(user: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    user["followers"] = int(user["followers"]) + int(rng.integers(1, 500))
    user["role"] = STORE_ROLES[int(rng.integers(0, len(STORE_ROLES)))]
    user["updated_at"] = iso_from_ms(stamp_ms)


def update_video(video: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    grown = int(rng.integers(10, 5000))
    video["views"] = int(video["views"]) + grown
    video["likes"] = int(video["likes"]) + grown // 20
    video["updated_at"] = iso_from_ms(stamp_ms)


def touch(record: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    """Stores, store users and videos have one volatile field: `updated_at`."""
    record["updated_at"] = iso_from_ms(stamp_ms)


def new_stores(
    rng: np.random.Generator, first_number: int, count: int, stamp_ms: int
) -> list[dict[str, Any]]:
    created = store_records(rng, first_number, count)
    for store in created:
        store["updated_at"] = iso_from_ms(stamp_ms)
    return created


def new_store_users(
    rng: np.random.Generator, code: str, ids: np.ndarray, stamp_ms: int
) -> list[dict[str, Any]]:
    users, _ = store_user_records(rng, code, ids, stamp_ms, stamp_ms + 1)
    for user in users:
        user["joined_at"] = user["updated_at"] = iso_from_ms(stamp_ms)
    return users


def new_videos(
    rng: np.random.Generator, store: dict[str, Any], ids: np.ndarray, stamp_ms: int
) -> list[dict[str, Any]]:
    videos, _ = video_records(rng, store, ids, stamp_ms, stamp_ms + 1)
    for video in videos:
        video["published_at"] = video["updated_at"] = iso_from_ms(stamp_ms)
        video["views"] = video["likes"] = video["comments"] = video["shares"] = 0
    return videos
