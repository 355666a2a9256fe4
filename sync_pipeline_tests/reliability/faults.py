"""Fault settings and tallies shared by the reliability cases."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sync_pipeline.engine.http import ClientConfig
from sync_pipeline.engine.http.config import Timeouts
from sync_pipeline.upstream.process import UpstreamProcess

# The hostile profile without its rate limits (storms still come) and with short hangs, so a
# case takes seconds: every fault kind stays in, only the waiting is shortened.
HOSTILE = {"profile": "hostile", "rps": None, "timeout_s": 0.6, "storm_s": [0.1, 0.3]}

# A client that retries as the production one does, on a shorter clock.
QUICK_RETRIES: dict[str, Any] = {
    "max_attempts": 12,
    "total_budget_s": 60.0,
    "backoff_base_s": 0.02,
    "backoff_cap_s": 0.2,
    "breaker_threshold": 200,
    "breaker_open_s": 0.5,
    "throttle_slow_for_s": 1.0,
    "timeouts": Timeouts(connect_s=2, read_s=0.5, pool_s=10),
}


def quick(config: ClientConfig) -> ClientConfig:
    """`config` with the quick retry clock."""
    return replace(config, **QUICK_RETRIES)


def make_hostile(server: UpstreamProcess, source: str, **overrides: Any) -> None:
    """Put `source` under the hostile profile and start its tallies from zero."""
    server.admin("faults", {"source": source, **HOSTILE, **overrides})
    server.admin("stats/reset", {})


def injected(server: UpstreamProcess, source: str) -> int:
    """Faults the upstream injected into `source`'s endpoints since the stats were reset:
    429s, errors, timeouts, dropped connections, malformed bodies and shifted pages."""
    endpoints = server.admin("stats")["endpoints"]
    return sum(
        entry["throttled"] + sum(entry["faults"].values())
        for entry in endpoints.values()
        if entry["source"] == source
    )
