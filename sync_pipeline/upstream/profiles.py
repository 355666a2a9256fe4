"""Fault profiles: rate limits, latencies and fault rates per source and endpoint.

Rate limits are token buckets per (token, limit group); `burst` is the bucket size, so at most
`burst + rps` requests are served in any one second. Latencies are `[p50, p99]` in ms of a
log-normal delay. Fault rates are chances per attempt (see `faults`).

Profile `seed` (the reference service as a realistic API):

| endpoint            | limit group  | rps  | burst | latency p50/p99 ms |
|---------------------|--------------|------|-------|--------------------|
| cars.list           | cars         | 20   | 20    | 60 / 250           |
| users.list          | users.list   | 10   | 10    | 80 / 300           |
| users.detail        | users.detail | 0.25 | 1     | 1400 / 2000        |
| stores.list         | stores       | 10   | 10    | 300 / 800          |
| stores.users        | stores       |      |       | 1500 / 2000        |
| stores.videos       | stores       |      |       | 1750 / 2400        |
| pvp.leaderboard     | pvp          | 100  | 100   | 500 / 1500         |
| pvp.equipment       | pvp          |      |       | 80 / 300           |
| contacts.workspaces | contacts     | 10   | 10    | 120 / 400          |
| contacts.list       | contacts     |      |       | 120 / 400          |

A store has 2 pages of users and 4 of videos at `limit=100`: about 3 s and 7 s of calls. Under
`seed` one store in 300 (at least one) answers 403 `store_token_expired`.

Profile `hostile`: latency 5/40 ms everywhere; limits cars 20, users.list 10, users.detail 10,
stores 20, pvp 50, contacts 10 rps (burst = rps); per attempt, 3% start a 429 storm (1-3 s in which
every request of that token and limit group gets 429), 6% get 500/502/503/504, 2% a read timeout
(the request hangs for `timeout_s`, default 30 s, then its connection drops), 2% a dropped
connection mid-body, 3% a malformed body
(truncated or not JSON), and 4% of later list pages repeat the record before them (a pagination
shift). Data: ~2.6% of records carry an oddity (see `data.oddities`), 1% of users vanish when
their detail is fetched, 2% of stores (at least one) answer 403 `store_token_expired`.
Profile `none`: no limits, no latency, no faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

PROFILE_NAMES = ("none", "seed", "hostile")
SOURCES = ("cars", "users", "stores", "pvp", "contacts")


@dataclass(frozen=True)
class Endpoint:
    name: str
    source: str
    limit_group: str
    paged: bool


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint("cars.list", "cars", "cars", True),
        Endpoint("users.list", "users", "users.list", True),
        Endpoint("users.detail", "users", "users.detail", False),
        Endpoint("stores.list", "stores", "stores", True),
        Endpoint("stores.users", "stores", "stores", True),
        Endpoint("stores.videos", "stores", "stores", True),
        Endpoint("pvp.leaderboard", "pvp", "pvp", False),
        Endpoint("pvp.equipment", "pvp", "pvp", False),
        Endpoint("contacts.workspaces", "contacts", "contacts", False),
        Endpoint("contacts.list", "contacts", "contacts", True),
    )
}
LIMIT_GROUPS: dict[str, str] = {e.limit_group: e.source for e in ENDPOINTS.values()}


@dataclass(frozen=True)
class Limit:
    rps: float | None  # None: unlimited
    burst: float = 1.0

    def as_json(self) -> dict[str, Any]:
        return {"rps": self.rps, "burst": self.burst}


@dataclass(frozen=True)
class FaultRates:
    """Chance per attempt of each injected fault (the first `faults.FAULTY_ATTEMPTS` attempts
    only)."""

    storm: float = 0.0
    error: float = 0.0
    timeout: float = 0.0
    drop: float = 0.0
    malformed: float = 0.0
    shift: float = 0.0


@dataclass(frozen=True)
class SourceSettings:
    """Everything `/_admin/faults` can set for one source."""

    profile: str
    limits: dict[str, Limit]
    latency_ms: dict[str, tuple[float, float]]
    rates: FaultRates = field(default_factory=FaultRates)
    timeout_s: float = 30.0
    storm_s: tuple[float, float] = (1.0, 3.0)
    data_oddities: bool = False
    vanishing_users: float = 0.0
    expired_store_share: float = 0.0
    expired_stores: tuple[str, ...] | None = None  # explicit codes override the share

    def as_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "limits": {g: l.as_json() for g, l in self.limits.items()},
            "latency_ms": {e: list(v) for e, v in self.latency_ms.items()},
            "rates": vars(self.rates).copy(),
            "timeout_s": self.timeout_s,
            "storm_s": list(self.storm_s),
            "data_oddities": self.data_oddities,
            "vanishing_users": self.vanishing_users,
            "expired_store_share": self.expired_store_share,
            "expired_stores": list(self.expired_stores)
            if self.expired_stores is not None
            else None,
        }


_SEED_LIMITS = {
    "cars": Limit(20, 20),
    "users.list": Limit(10, 10),
    "users.detail": Limit(0.25, 1),
    "stores": Limit(10, 10),
    "pvp": Limit(100, 100),
    "contacts": Limit(10, 10),
}
_SEED_LATENCY = {
    "cars.list": (60, 250),
    "users.list": (80, 300),
    "users.detail": (1400, 2000),
    "stores.list": (300, 800),
    "stores.users": (1500, 2000),
    "stores.videos": (1750, 2400),
    "pvp.leaderboard": (500, 1500),
    "pvp.equipment": (80, 300),
    "contacts.workspaces": (120, 400),
    "contacts.list": (120, 400),
}
_HOSTILE_LIMITS = {
    "cars": Limit(20, 20),
    "users.list": Limit(10, 10),
    "users.detail": Limit(10, 10),
    "stores": Limit(20, 20),
    "pvp": Limit(50, 50),
    "contacts": Limit(10, 10),
}
HOSTILE_RATES = FaultRates(
    storm=0.03, error=0.06, timeout=0.02, drop=0.02, malformed=0.03, shift=0.04
)


def profile_settings(profile: str, source: str) -> SourceSettings:
    """The settings of `profile` for `source`; raises ValueError for an unknown profile or
    source."""
    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILE_NAMES)}")
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    groups = [g for g, s in LIMIT_GROUPS.items() if s == source]
    endpoints = [e.name for e in ENDPOINTS.values() if e.source == source]
    if profile == "none":
        return SourceSettings(
            "none", {g: Limit(None) for g in groups}, {e: (0.0, 0.0) for e in endpoints}
        )
    if profile == "seed":
        return SourceSettings(
            "seed",
            {g: _SEED_LIMITS[g] for g in groups},
            {e: _SEED_LATENCY[e] for e in endpoints},
            expired_store_share=1 / 300 if source == "stores" else 0.0,
        )
    return SourceSettings(
        "hostile",
        {g: _HOSTILE_LIMITS[g] for g in groups},
        {e: (5.0, 40.0) for e in endpoints},
        rates=HOSTILE_RATES,
        data_oddities=True,
        vanishing_users=0.01 if source == "users" else 0.0,
        expired_store_share=0.02 if source == "stores" else 0.0,
    )


def with_overrides(
    settings: SourceSettings, overrides: dict[str, Any], endpoint: str | None = None
) -> SourceSettings:
    """`settings` with the `/_admin/faults` keys that were given (None values are skipped).

    `rps`/`burst`/`latency_ms` apply to every limit group and endpoint of the source, or only
    to `endpoint` (and its limit group) when one is named.
    """
    endpoints = [endpoint] if endpoint else list(settings.latency_ms)
    groups = {ENDPOINTS[e].limit_group for e in endpoints}
    limits = dict(settings.limits)
    if "rps" in overrides or "burst" in overrides:
        for group in groups:
            rps = overrides.get("rps", limits[group].rps)
            burst = overrides.get("burst") or (max(1.0, rps) if rps else 1.0)
            limits[group] = Limit(rps, burst)
    latency = dict(settings.latency_ms)
    if overrides.get("latency_ms") is not None:
        p50, p99 = overrides["latency_ms"]
        latency.update({e: (float(p50), float(p99)) for e in endpoints})
    rate_names = {
        "storm_rate": "storm",
        "error_rate": "error",
        "timeout_rate": "timeout",
        "drop_rate": "drop",
        "malformed_rate": "malformed",
        "shift_rate": "shift",
    }
    rates = replace(
        settings.rates,
        **{
            field_name: float(overrides[key])
            for key, field_name in rate_names.items()
            if overrides.get(key) is not None
        },
    )
    plain = {
        key: overrides[key]
        for key in ("timeout_s", "data_oddities", "vanishing_users", "expired_store_share")
        if overrides.get(key) is not None
    }
    if overrides.get("storm_s") is not None:
        plain["storm_s"] = tuple(overrides["storm_s"])
    if "expired_stores" in overrides:
        codes = overrides["expired_stores"]
        plain["expired_stores"] = tuple(codes) if codes is not None else None
    return replace(settings, limits=limits, latency_ms=latency, rates=rates, **plain)
