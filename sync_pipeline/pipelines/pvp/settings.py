"""The knobs of a pvp sync and where they come from (`PVP_*` environment variables)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sync_pipeline.errors import ConfigError
from sync_pipeline.settings import positive_int_env, setting

DEFAULT_SYNC_THREADS = 4
DEFAULT_PROCESSING_THREADS = 32
DEFAULT_EQUIPMENT_MAX_AGE = timedelta(hours=24)
DEFAULT_EQUIPMENT_BATCH = 500
DEFAULT_CLAIM_WAIT_S = 600.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class PvpSettings:
    """`sync_threads`: leaderboards at once; `processing_threads`: equipment calls in flight;
    `equipment_max_age`: refetch equipment older than this even if the character has not played;
    `equipment_batch`: fetched characters written per transaction; `claim_wait_s`: how long a
    board waits for the equipment calls other boards claimed for its characters."""

    sync_threads: int = DEFAULT_SYNC_THREADS
    processing_threads: int = DEFAULT_PROCESSING_THREADS
    equipment_max_age: timedelta = DEFAULT_EQUIPMENT_MAX_AGE
    equipment_batch: int = DEFAULT_EQUIPMENT_BATCH
    claim_wait_s: float = DEFAULT_CLAIM_WAIT_S

    @classmethod
    def from_env(cls) -> PvpSettings:
        """`PVP_SYNC_THREADS`, `PVP_PROCESSING_THREADS`, `PVP_EQUIPMENT_MAX_AGE` (seconds, or a
        number with s, m, h or d); raises `ConfigError` naming a bad value."""
        return cls(
            sync_threads=positive_int_env("PVP_SYNC_THREADS", DEFAULT_SYNC_THREADS),
            processing_threads=positive_int_env(
                "PVP_PROCESSING_THREADS", DEFAULT_PROCESSING_THREADS
            ),
            equipment_max_age=parse_duration(
                "PVP_EQUIPMENT_MAX_AGE",
                setting("PVP_EQUIPMENT_MAX_AGE", ""),
                DEFAULT_EQUIPMENT_MAX_AGE,
            ),
        )


def parse_duration(name: str, raw: str, default: timedelta) -> timedelta:
    """`raw` ("86400", "24h", "30m", "1.5d") as a duration, `default` when empty."""
    if not raw.strip():
        return default
    match = _DURATION.match(raw)
    if match is None:
        raise ConfigError(f"{name} must be a duration such as 86400, 24h or 30m, got {raw!r}")
    return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])
