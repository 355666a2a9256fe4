"""Per-run settings of a stores sync, editable in the launchpad; unset ones take the
environment (`SYNC_CONCURRENCY`, `VIDEO_SYNC_CONCURRENCY`), then the shipped defaults."""

import dagster as dg
from pydantic import Field

from sync_pipeline.pipelines.stores import StoresSyncSettings

DEFAULT_FRESHNESS_HOURS = 24.0


class StoresSyncConfig(dg.Config):
    users_concurrency: int | None = Field(
        default=None, description="Stores fetching users at once. Default: SYNC_CONCURRENCY or 30."
    )
    videos_concurrency: int | None = Field(
        default=None,
        description="Stores fetching videos at once. Default: VIDEO_SYNC_CONCURRENCY or 20.",
    )
    page_size: int = Field(default=100, description="Records per page (the API's max is 100).")
    progress_every_s: float = Field(
        default=60.0, description="Seconds between progress lines (and metadata samples)."
    )
    min_success_rate: float = Field(
        default=0.95, description="Success-rate check: share of the run's stores that synced."
    )
    freshness_hours: float = Field(
        default=DEFAULT_FRESHNESS_HOURS,
        description="Freshness check: every live store synced within this many hours.",
    )

    def settings(self) -> StoresSyncSettings:
        return StoresSyncSettings.from_env(
            users_concurrency=self.users_concurrency,
            videos_concurrency=self.videos_concurrency,
            page_size=self.page_size,
            progress_every_s=self.progress_every_s,
        )
