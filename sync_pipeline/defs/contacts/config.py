"""Per-run settings of a contacts sync, editable in the launchpad."""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from sync_pipeline.pipelines.contacts import ContactsSyncSettings


class ContactsSyncConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Walk each workspace whole; the only run that soft-deletes contacts.",
    )
    force_delist: bool = Field(
        default=False, description="Soft-delete even at the engine's 5% safety threshold."
    )
    page_size: int = Field(default=500, description="Contacts per page (the API allows 500).")
    batch_size: int = Field(default=2000, description="Rows per transaction.")
    lookback_minutes: float = Field(
        default=15.0,
        description="Incremental runs fetch from the newest stored updated_at minus this.",
    )
    max_error_rate: float = Field(
        default=0.05, description="Error-rate check: failed attempts per request."
    )

    def settings(self) -> ContactsSyncSettings:
        return ContactsSyncSettings(
            page_size=self.page_size,
            batch_size=self.batch_size,
            full_refresh=self.full_refresh,
            lookback=timedelta(minutes=self.lookback_minutes),
            force_delist=self.force_delist,
        )
