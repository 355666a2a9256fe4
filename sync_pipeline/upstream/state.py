"""`UpstreamState`: everything one server process holds: data, settings, limiter, faults, stats."""

from __future__ import annotations

import itertools
from typing import Any

import xxhash

from sync_pipeline.upstream.auth import TokenCheck
from sync_pipeline.upstream.clock import MutationClock
from sync_pipeline.upstream.data.churn import Churn
from sync_pipeline.upstream.data.dataset import Dataset, build_dataset
from sync_pipeline.upstream.faults import FaultInjector
from sync_pipeline.upstream.profiles import (
    SOURCES,
    SourceSettings,
    profile_settings,
    with_overrides,
)
from sync_pipeline.upstream.ratelimit import RateLimiter
from sync_pipeline.upstream.sizes import DataSizes
from sync_pipeline.upstream.stats import Stats


class UpstreamState:
    def __init__(self, seed: int, sizes: DataSizes, profile: str, token: str | None) -> None:
        self.auth = TokenCheck(token)
        self.clock = MutationClock()
        self.limiter = RateLimiter()
        self.stats = Stats()
        self.settings: dict[str, SourceSettings] = {
            source: profile_settings(profile, source) for source in SOURCES
        }
        self.dataset: Dataset = build_dataset(seed, sizes)
        self.faults = FaultInjector(seed)
        self.refusals = itertools.count()  # alternates the Retry-After form of hostile 429s
        self._expired: tuple[Any, SourceSettings, frozenset[str]] | None = None
        self.churn: Churn | None = None

    @property
    def seed(self) -> int:
        return self.dataset.seed

    def reset_data(self, seed: int, sizes: DataSizes) -> None:
        """New data (a churn spell stops); the clock keeps going forward so later stamps stay
        later."""
        if self.churn is not None:
            self.churn.stop()
        self.dataset = build_dataset(seed, sizes)
        self.faults = FaultInjector(seed)
        self._expired = None

    def configure(
        self,
        sources: list[str],
        profile: str | None,
        overrides: dict[str, Any],
        endpoint: str | None,
    ) -> None:
        """Apply `/_admin/faults`: the profile (if given) first, then the overrides. Fault attempt
        counts restart and every rate-limit bucket refills, so what follows is reproducible."""
        for source in sources:
            base = profile_settings(profile, source) if profile else self.settings[source]
            self.settings[source] = with_overrides(base, overrides, endpoint)
        self.faults.reset()
        self.limiter.reset()
        self._expired = None

    def expired_stores(self) -> frozenset[str]:
        """Stores that answer 403 `store_token_expired`: the explicit list, else a stable share."""
        settings, table = self.settings["stores"], self.dataset.stores
        if self._expired is None or self._expired[0] is not table or self._expired[1] != settings:
            self._expired = (table, settings, _expired_stores(self.seed, table.keys, settings))
        return self._expired[2]


def _expired_stores(seed: int, codes: list[str], settings: SourceSettings) -> frozenset[str]:
    if settings.expired_stores is not None:
        return frozenset(settings.expired_stores)
    if settings.expired_store_share <= 0 or not codes:
        return frozenset()
    count = max(1, round(settings.expired_store_share * len(codes)))

    def rank(code: str) -> int:
        return xxhash.xxh64_intdigest(f"expired:{code}".encode(), seed & 0xFFFFFFFFFFFFFFFF)

    ranked = sorted(codes, key=rank)
    return frozenset(ranked[:count])
