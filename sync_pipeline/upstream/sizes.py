"""How much data the reference upstream generates: the contract's size keys and their defaults."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from sync_pipeline.errors import ConfigError

# The size keys behind each upstream API, and the least each key may be.
UPSTREAM_SIZE_KEYS: dict[str, tuple[str, ...]] = {
    "cars": ("cars",),
    "users": ("users",),
    "stores": ("stores",),
    "pvp": ("leaderboard_entries",),
    "contacts": ("contacts", "workspaces"),
}
LEAST_SIZES: dict[str, int] = {
    "cars": 0,
    "users": 0,
    "stores": 0,
    "leaderboard_entries": 1,
    "contacts": 0,
    "workspaces": 1,
}


def sizes_serving_only(upstreams: Iterable[str]) -> dict[str, int]:
    """Size overrides that leave the default data of `upstreams` and generate the least for
    every other API (each API's data comes from its own seeded stream, so the kept ones are
    byte-identical to a full server's)."""
    kept = {key for upstream in upstreams for key in UPSTREAM_SIZE_KEYS.get(upstream, ())}
    return {key: least for key, least in LEAST_SIZES.items() if key not in kept}


@dataclass(frozen=True)
class DataSizes:
    cars: int = 200_000
    users: int = 50_000
    stores: int = 300
    leaderboard_entries: int = 5_000
    contacts: int = 20_000
    workspaces: int = 5

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DataSizes:
        """Defaults overridden by `values`; raises ConfigError on an unknown key or a bad count."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown size key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}"
            )
        parsed: dict[str, int] = {}
        for key, raw in values.items():
            try:
                parsed[key] = int(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"size {key} must be a whole number, got {raw!r}") from None
            if isinstance(raw, float) and raw != int(raw):
                raise ConfigError(f"size {key} must be a whole number, got {raw!r}")
        sizes = replace(cls(), **parsed)
        sizes.validate()
        return sizes

    @classmethod
    def parse(cls, text: str) -> DataSizes:
        """`"cars=5000,users=2000"` (empty means the defaults)."""
        pairs: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in (text or "").split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"size {item!r} is not key=value")
            pairs[key.strip()] = value.strip()
        return cls.from_mapping(pairs)

    def validate(self) -> None:
        for key, value in asdict(self).items():
            if value < 0:
                raise ConfigError(f"size {key} must not be negative, got {value}")
        if self.workspaces < 1:
            raise ConfigError("size workspaces must be at least 1")
        if self.leaderboard_entries < 1:
            raise ConfigError("size leaderboard_entries must be at least 1")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
