"""Settings of the users system: per-run config of the sync step, and the detector's knobs.

A run with `ids` is a worker run (the detector sets them), one with `backfill` a backfill run
(the backfill sensor sets it); a run with neither is the reconcile of its partition (or of
everything, with `full_refresh`), which bootstraps an empty table from the list. Knobs left unset
take the environment (`USERS_PAGE_SIZE`, `USERS_WRITE_BATCH`), then the defaults. The detector reads
`USERS_BATCH` (ids per worker run, default 500), `USERS_PAGE_SIZE`, `USERS_DETECTOR_MAX_PAGES` (40)
and `USERS_DETECTOR_OVERLAP_S` (120) at every tick; the backfill `USERS_BACKFILL_RUN` and
`USERS_BACKFILL_STALL_S`; the pruning schedule `USERS_RETENTION_DAYS`. Rate limits belong to the
resources (`users/resources.py`).
"""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from sync_pipeline.defs.resources import env_number
from sync_pipeline.errors import ConfigError
from sync_pipeline.pipelines.users.apply import ApplySettings
from sync_pipeline.pipelines.users.backfill import BackfillSettings
from sync_pipeline.pipelines.users.detect import DetectorSettings


class UsersSyncConfig(dg.Config):
    ids: list[int] = Field(
        default=[],
        description="Worker run: the users to fetch and store (set by the detector). "
        "Empty: reconcile the partition's updated_at day.",
    )
    request_key: str = Field(
        default="",
        description="Worker run: the detector's run key. A re-executed run with the "
        "same key resumes after the users it already stored.",
    )
    backfill: int = Field(
        default=0,
        description="Backfill run: fetch the details of up to this many users known from "
        "the list only, most recently active first (set by the backfill "
        "sensor); fresh changes go first.",
    )
    bootstrap_empty: bool = Field(
        default=True,
        description="Reconcile of an empty table: store the list's summaries "
        "and queue every detail for the backfill, instead of "
        "fetching every detail in this run.",
    )
    full_refresh: bool = Field(
        default=False,
        description="Reconcile every user, and soft-delete the live users the "
        "list no longer shows once their detail answers 404.",
    )
    page_size: int | None = Field(
        default=None, description="List page size (default USERS_PAGE_SIZE or 500, max 500)."
    )
    write_batch: int | None = Field(
        default=None, description="Users per transaction (default USERS_WRITE_BATCH or 100)."
    )
    flush_every_s: float = Field(
        default=30.0, description="Store what was fetched at least this often (s)."
    )
    max_error_rate: float = Field(
        default=0.05, description="error_rate check: failed attempts per request."
    )
    min_detail_rate_share: float = Field(
        default=0.9,
        description="detail_throughput check: detail requests/s as a "
        "share of the limit (divided among concurrent runs).",
    )
    throughput_min_requests: int = Field(
        default=200,
        description="detail_throughput check: judge runs with at "
        "least this many detail requests (fewer: warm-up).",
    )
    max_backfill_eta_h: float = Field(
        default=72.0,
        description="detail_coverage check: while details are missing, "
        "the queue's ETA at the current limit (hours).",
    )

    def apply_settings(self) -> ApplySettings:
        return ApplySettings(
            write_batch=positive_int(self.write_batch, "USERS_WRITE_BATCH", 100),
            flush_every_s=self.flush_every_s,
        )

    def list_page_size(self) -> int:
        return positive_int(self.page_size, "USERS_PAGE_SIZE", 500)


def detector_settings() -> DetectorSettings:
    """The detector's knobs from the environment, read at tick time; raises `ConfigError`."""
    overlap_s = env_number("USERS_DETECTOR_OVERLAP_S", 120.0)
    if overlap_s < 0:
        raise ConfigError(f"USERS_DETECTOR_OVERLAP_S must not be negative, got {overlap_s:g}")
    return DetectorSettings(
        batch_size=positive_int(None, "USERS_BATCH", 500),
        page_size=positive_int(None, "USERS_PAGE_SIZE", 500),
        max_pages=positive_int(None, "USERS_DETECTOR_MAX_PAGES", 40),
        overlap=timedelta(seconds=overlap_s),
    )


def backfill_settings(run_size: int | None = None) -> BackfillSettings:
    """The backfill's knobs: `USERS_BACKFILL_RUN` (items per run, 200) and `USERS_BACKFILL_STALL_S`
    (120: fresh changes that take no slot for this long stop holding the backfill back)."""
    stall_s = env_number("USERS_BACKFILL_STALL_S", 120.0)
    return BackfillSettings(
        run_size=positive_int(run_size, "USERS_BACKFILL_RUN", 200),
        write_batch=positive_int(None, "USERS_WRITE_BATCH", 100),
        stall_s=stall_s,
    )


def retention_days() -> int:
    """`USERS_RETENTION_DAYS` (7): how long finished checkpoints and quarantined pending rows
    stay."""
    return positive_int(None, "USERS_RETENTION_DAYS", 7)


def positive_int(value: int | None, env_name: str, default: int) -> int:
    """`value`, else the environment variable, else `default`; raises `ConfigError` if below 1."""
    number = value if value is not None else env_number(env_name, default)
    if number < 1 or number != int(number):
        raise ConfigError(f"{env_name} must be a whole number of at least 1, got {number:g}")
    return int(number)
