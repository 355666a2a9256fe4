"""Users (`GET /users`, `GET /users/{id}`): summaries for the list, details for the slow endpoint.

The detail is the master form; the summary is its projection, so both always agree. `fetched_at`
is not stored: the detail route stamps it on the way out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sync_pipeline.upstream.clock import DATA_END_MS, DATA_START_MS, DAY_MS, iso_column, iso_from_ms
from sync_pipeline.upstream.data.rng import increasing_ids, pick, spread_ms, stream
from sync_pipeline.upstream.data.table import RecordTable, Row, to_blob
from sync_pipeline.upstream.data.vocab import (
    CITIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    email_for,
)

SUMMARY_FIELDS = ("id", "email", "name", "status", "plan", "team_id", "updated_at", "last_seen_at")
STATUSES = ("active", "suspended", "deleted")
PLANS = ("free", "pro", "team", "enterprise")
ROLES = ("admin", "billing", "owner", "viewer", "support", "developer")
LOCALES = (
    "en-US",
    "en-GB",
    "de-DE",
    "fr-FR",
    "es-ES",
    "pt-BR",
    "ja-JP",
    "ko-KR",
    "zh-CN",
    "pl-PL",
    "tr-TR",
    "vi-VN",
)
TIMEZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Warsaw",
    "Asia/Tokyo",
    "Asia/Seoul",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Africa/Lagos",
    "Australia/Sydney",
)
TITLES = (
    "Data Engineer",
    "Product Manager",
    "Staff Engineer",
    "Head of Growth",
    "Account Executive",
    "Designer",
    "CTO",
    "Support Lead",
    "Analyst",
    "Ingénieure logiciel",
    "Entwicklerin",
    "Founder",
)
BIOS = (
    "Coffee ☕, code and cats.",
    "Building data pipelines since 2012.",
    "Ich liebe Datenbanken.",
    "Product designer based in Zürich.",
    "データエンジニア。東京在住。",
    "Runner, reader, occasional baker.",
    "Ex-consultant, now shipping things.",
    "Opinions are my own — mostly.",
    "Aprendiendo algo nuevo cada día.",
    "",
    "Open-source maintainer. Ask me about PostgreSQL.",
    "Dad of two 👨‍👧‍👦, amateur astronomer.",
)
STREETS = (
    "Main St",
    "Oak Avenue",
    "Maple Drive",
    "Sunset Blvd",
    "Rue de Rivoli",
    "Kurfürstendamm",
    "Calle Mayor",
)
FIRST_USER_ID = 1000


def generate_users(seed: int, count: int) -> RecordTable:
    rng = stream(seed, "users")
    ids = increasing_ids(rng, FIRST_USER_ID, count, max_gap=4)
    details, updated_ms = user_details(rng, ids, DATA_START_MS, DATA_END_MS)
    return RecordTable.from_rows(
        [user_row(d, ms) for d, ms in zip(details, updated_ms.tolist())], presorted=True
    )


def user_row(detail: dict[str, Any], updated_ms: int) -> Row:
    summary = {name: detail[name] for name in SUMMARY_FIELDS if name in detail}
    return Row(detail["id"], to_blob(summary), updated_ms, to_blob(detail))


def user_details(
    rng: np.random.Generator, ids: np.ndarray, window_start_ms: int, window_end_ms: int
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Users with the given ids, and their `updated_at` in ms."""
    n = len(ids)
    plan = pick(rng, PLANS, n, (55, 25, 15, 5))
    team = np.where(plan >= 2, rng.integers(1, max(2, n // 25), n), -1)
    updated = spread_ms(rng, window_start_ms, window_end_ms, n)
    last_seen = updated + rng.integers(-20 * DAY_MS, 2 * DAY_MS, n)
    columns = zip(
        ids.tolist(),
        pick(rng, FIRST_NAMES, n).tolist(),
        pick(rng, LAST_NAMES, n).tolist(),
        pick(rng, STATUSES, n, (90, 6, 4)).tolist(),
        plan.tolist(),
        team.tolist(),
        pick(rng, EMAIL_DOMAINS, n).tolist(),
        iso_column(updated),
        iso_column(last_seen),
        rng.integers(0, 1 << 16, n).tolist(),
        rng.integers(0, 1 << 30, n).tolist(),
    )
    return [_detail(*row) for row in columns], updated


def _detail(
    user_id: int,
    first: int,
    last: int,
    status: int,
    plan: int,
    team: int,
    domain: int,
    updated_at: str,
    last_seen_at: str,
    flags: int,
    salt: int,
) -> dict[str, Any]:
    """One user; `flags` and `salt` are random bits that pick the smaller details."""
    first_name, last_name = FIRST_NAMES[first], LAST_NAMES[last]
    return {
        "id": user_id,
        "email": email_for(first_name, last_name, user_id % 9973, EMAIL_DOMAINS[domain]),
        "name": f"{first_name} {last_name}",
        "status": STATUSES[status],
        "plan": PLANS[plan],
        "team_id": team if team >= 0 else None,
        "updated_at": updated_at,
        "last_seen_at": last_seen_at,
        "profile": _profile(user_id, flags, salt),
        "settings": _settings(flags),
        "roles": _roles(flags),
        "addresses": [_address(kind, salt) for kind in range((salt >> 20) % 3)],
    }


def _profile(user_id: int, flags: int, salt: int) -> dict[str, Any]:
    return {
        "avatar_url": f"https://avatars.example.com/u/{user_id}.png",
        "bio": BIOS[salt % len(BIOS)],
        "locale": LOCALES[flags % len(LOCALES)],
        "timezone": TIMEZONES[salt % len(TIMEZONES)],
        "job_title": TITLES[(salt >> 4) % len(TITLES)],
        "phone": f"+1-555-{salt % 900 + 100:03d}-{user_id % 10000:04d}",
    }


def _settings(flags: int) -> dict[str, Any]:
    return {
        "theme": ("light", "dark", "system")[flags % 3],
        "language": LOCALES[(flags >> 2) % len(LOCALES)][:2],
        "notifications": {
            "email": bool(flags & 16),
            "push": bool(flags & 32),
            "digest": ("daily", "weekly", "never")[(flags >> 6) % 3],
        },
        "two_factor_enabled": bool(flags & 256),
    }


def _address(kind: int, salt: int) -> dict[str, Any]:
    city, state = CITIES[salt % len(CITIES)]
    street = STREETS[(salt >> (3 * kind)) % len(STREETS)]
    return {
        "type": ("home", "billing", "shipping")[kind],
        "line1": f"{(salt >> kind) % 9000 + 10} {street}",
        "line2": None if (salt >> kind) & 1 else f"Apt {(salt >> 5) % 300 + 1}",
        "city": city,
        "region": state,
        "postal_code": f"{(salt >> 7) % 90000 + 10000}",
        "country": "US",
    }


def _roles(flags: int) -> list[str]:
    """Everyone is a member; one user in four also holds the roles whose bits are set."""
    if flags & 3:
        return ["member"]
    return ["member"] + [role for bit, role in enumerate(ROLES) if flags >> (9 + bit) & 1]


def update_user(detail: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    """A business change the list shows (plan, status or first name always differs), then a
    touch."""
    change = int(rng.integers(0, 3))
    if change == 0:
        detail["plan"] = PLANS[
            (PLANS.index(detail["plan"]) + 1 + int(rng.integers(0, 3))) % len(PLANS)
        ]
    elif change == 1:
        detail["status"] = "suspended" if detail["status"] == "active" else "active"
    else:
        first, _, last = detail["name"].partition(" ")
        others = [name for name in FIRST_NAMES if name != first]
        detail["name"] = f"{others[int(rng.integers(0, len(others)))]} {last}"
    detail["profile"]["job_title"] = TITLES[int(rng.integers(0, len(TITLES)))]
    touch_user(detail, rng, stamp_ms)


def touch_user(detail: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    """Only `updated_at` and `last_seen_at` move."""
    detail["updated_at"] = detail["last_seen_at"] = iso_from_ms(stamp_ms)


def new_users(rng: np.random.Generator, ids: np.ndarray, stamp_ms: int) -> list[dict[str, Any]]:
    details, _ = user_details(rng, ids, stamp_ms, stamp_ms + 1)
    for detail in details:
        detail["updated_at"] = detail["last_seen_at"] = iso_from_ms(stamp_ms)
    return details
