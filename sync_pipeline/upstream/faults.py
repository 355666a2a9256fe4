"""Injected faults, decided deterministically per attempt.

Each request is identified by (token, method, path, query). Its n-th attempt draws from a hash
of (seed, identity, n), so the same client behaviour meets the same faults on every run. Only the
first `FAULTY_ATTEMPTS` attempts of a request can fail: a client that retries always gets through
(apart from storms started by other requests and the real rate limit, which both end).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import xxhash

from sync_pipeline.upstream.profiles import FaultRates

FAULTY_ATTEMPTS = 3
SERVER_ERRORS = (500, 502, 503, 504)


@dataclass(frozen=True)
class Fault:
    """`kind` is one of: storm, error, timeout, drop, malformed, shift. `detail` in [0, 1) picks the
    variant (which 5xx, where a body is cut, which Retry-After form, how long a storm lasts)."""

    kind: str
    detail: float

    @property
    def stats_kind(self) -> str:
        if self.kind == "error":
            return f"http_{self.status}"
        if self.kind == "malformed":
            return "truncated" if self.detail < 0.5 else "not_json"
        return {"storm": "storm_429", "drop": "dropped", "shift": "shifted"}.get(
            self.kind, self.kind
        )

    @property
    def status(self) -> int:
        return SERVER_ERRORS[int(self.detail * len(SERVER_ERRORS))]

    @property
    def date_form(self) -> bool:
        """Whether a 429 this fault causes says Retry-After as an HTTP date (else in seconds)."""
        return self.detail * 1000 % 1 < 0.5


@dataclass
class Storm:
    until_monotonic: float
    date_form: bool


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self._seed = seed & 0xFFFFFFFFFFFFFFFF
        self._attempts: dict[str, int] = {}
        self._storms: dict[tuple[str, str], Storm] = {}
        self._jitter = random.Random(seed)

    def decide(self, identity: str, rates: FaultRates, continues_a_list: bool) -> Fault | None:
        """The fault for this attempt of `identity`, if any (counts the attempt)."""
        attempt = self._attempts.get(identity, 0)
        self._attempts[identity] = attempt + 1
        if attempt >= FAULTY_ATTEMPTS:
            return None
        digest = xxhash.xxh128_intdigest(f"{identity}#{attempt}".encode(), self._seed)
        draw, detail = (digest >> 64) / 2**64, (digest & 0xFFFFFFFFFFFFFFFF) / 2**64
        for kind, rate in (
            ("storm", rates.storm),
            ("error", rates.error),
            ("timeout", rates.timeout),
            ("drop", rates.drop),
            ("malformed", rates.malformed),
            ("shift", rates.shift if continues_a_list else 0.0),
        ):
            if draw < rate:
                return Fault(kind, detail)
            draw -= rate
        return None

    def storm_over(self, token: str, group: str, now: float) -> Storm | None:
        """The storm raging for (token, limit group), if one is."""
        storm = self._storms.get((token, group))
        if storm is not None and storm.until_monotonic <= now:
            del self._storms[(token, group)]
            return None
        return storm

    def start_storm(
        self, token: str, group: str, fault: Fault, length_s: tuple[float, float], now: float
    ) -> Storm:
        low, high = length_s
        duration = low + (high - low) * fault.detail
        storm = Storm(now + duration, fault.date_form)
        self._storms[(token, group)] = storm
        return storm

    def latency_s(self, p50_ms: float, p99_ms: float) -> float:
        """A log-normal delay with the given median and 99th percentile."""
        if p50_ms <= 0:
            return 0.0
        sigma = math.log(max(p99_ms, p50_ms) / p50_ms) / 2.326
        return p50_ms * math.exp(sigma * self._jitter.gauss(0.0, 1.0)) / 1000

    def reset(self) -> None:
        self._attempts.clear()
        self._storms.clear()
