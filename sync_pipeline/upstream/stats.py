"""Request statistics for `/_admin/stats`: counts per endpoint and token, and peak rates.

`max_requests_in_1s` is the highest number of requests that arrived within any sliding window
of one second, i.e. any interval (t - 1 s, t]: with requests paced exactly at N per second it is N.
It counts every request a client sent (429s included), so a test can prove that the client
itself stayed under a limit; `max_served_in_1s` counts only the requests the limiter let through.
Both are kept per endpoint and per limit group (the scope of a rate limit), per token.

`throttled` counts every 429 (rate limit or storm); `served` the requests answered otherwise
(an injected 5xx, timeout or broken body included). Injected faults are counted by kind:
`storm_started`, `storm_429` (every 429 of a storm), `http_500`..`http_504`, `timeout`,
`dropped`, `truncated`, `not_json`, `shifted` (a page that repeated the record before it),
`deleted_before_detail`.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from sync_pipeline.upstream.clock import iso_from_ms
from sync_pipeline.upstream.profiles import ENDPOINTS

WINDOW_S = 1.0


@dataclass
class PeakRate:
    """Highest count of events in any window (t - WINDOW_S, t]."""

    recent: deque = field(default_factory=deque)
    peak: int = 0

    def add(self, now: float) -> None:
        recent = self.recent
        recent.append(now)
        while recent[0] <= now - WINDOW_S:
            recent.popleft()
        self.peak = max(self.peak, len(recent))


@dataclass
class Tally:
    requests: int = 0
    served: int = 0
    throttled: int = 0
    unauthorized: int = 0
    faults: Counter = field(default_factory=Counter)
    arrivals: PeakRate = field(default_factory=PeakRate)
    admissions: PeakRate = field(default_factory=PeakRate)

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "served": self.served,
            "throttled": self.throttled,
            "unauthorized": self.unauthorized,
            "faults": dict(sorted(self.faults.items())),
            "max_requests_in_1s": self.arrivals.peak,
            "max_served_in_1s": self.admissions.peak,
        }


class Stats:
    """Tallies keyed by (scope, token label), scope being an endpoint or `group:<limit group>`."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self._tallies: dict[tuple[str, str], Tally] = {}

    def _both(self, endpoint: str, token: str) -> tuple[Tally, Tally]:
        tallies = self._tallies
        by_endpoint = tallies.get((endpoint, token))
        if by_endpoint is None:
            by_endpoint = tallies[(endpoint, token)] = Tally()
        group_key = ("group:" + ENDPOINTS[endpoint].limit_group, token)
        by_group = tallies.get(group_key)
        if by_group is None:
            by_group = tallies[group_key] = Tally()
        return by_endpoint, by_group

    def arrived(self, endpoint: str, token: str, now: float) -> None:
        for tally in self._both(endpoint, token):
            tally.requests += 1
            tally.arrivals.add(now)

    def admitted(self, endpoint: str, token: str, now: float) -> None:
        for tally in self._both(endpoint, token):
            tally.served += 1
            tally.admissions.add(now)

    def throttled(self, endpoint: str, token: str) -> None:
        for tally in self._both(endpoint, token):
            tally.throttled += 1

    def unauthorized(self, endpoint: str, token: str) -> None:
        for tally in self._both(endpoint, token):
            tally.unauthorized += 1
            tally.requests += 1

    def fault(self, endpoint: str, token: str, kind: str) -> None:
        for tally in self._both(endpoint, token):
            tally.faults[kind] += 1

    def as_json(self) -> dict[str, Any]:
        endpoints: dict[str, Any] = {}
        groups: dict[str, Any] = {}
        for (scope, token), tally in sorted(self._tallies.items()):
            if scope.startswith("group:"):
                groups.setdefault(scope[len("group:") :], {"tokens": {}})["tokens"][token] = (
                    tally.as_json()
                )
            else:
                entry = endpoints.setdefault(
                    scope,
                    {
                        "source": ENDPOINTS[scope].source,
                        "limit_group": ENDPOINTS[scope].limit_group,
                        "tokens": {},
                    },
                )
                entry["tokens"][token] = tally.as_json()
        for entry in (*endpoints.values(), *groups.values()):
            entry.update(_totals(entry["tokens"].values()))
        return {
            "window": "sliding 1 s: any interval (t - 1 s, t]",
            "since": iso_from_ms(int(self.started_at * 1000)),
            "endpoints": endpoints,
            "limit_groups": groups,
        }


def _totals(per_token: Any) -> dict[str, Any]:
    """Sums over tokens; the peaks are the highest of any one token (limits are per token)."""
    totals: dict[str, Any] = {
        "requests": 0,
        "served": 0,
        "throttled": 0,
        "unauthorized": 0,
        "faults": Counter(),
        "max_requests_in_1s": 0,
        "max_served_in_1s": 0,
    }
    for tally in per_token:
        for key in ("requests", "served", "throttled", "unauthorized"):
            totals[key] += tally[key]
        totals["faults"].update(tally["faults"])
        for key in ("max_requests_in_1s", "max_served_in_1s"):
            totals[key] = max(totals[key], tally[key])
    totals["faults"] = dict(sorted(totals["faults"].items()))
    return totals
