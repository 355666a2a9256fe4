"""Per-run settings of a pvp sync, editable in the launchpad; unset ones take `PVP_*`."""

from datetime import timedelta

import dagster as dg
from pydantic import Field

from sync_pipeline.pipelines.pvp.settings import PvpSettings


class PvpEquipmentConfig(dg.Config):
    equipment_max_age_hours: float | None = Field(
        default=None,
        description="Refetch equipment older than this. Default: PVP_EQUIPMENT_MAX_AGE or 24 h.",
    )
    equipment_batch: int = Field(
        default=500, description="Fetched characters written per transaction."
    )
    claim_wait_s: float = Field(
        default=600.0, description="How long to wait for equipment calls other boards claimed."
    )
    min_equipment_coverage: float = Field(
        default=0.95, description="Coverage check: share of public characters with fresh equipment."
    )

    def settings(self) -> PvpSettings:
        base = PvpSettings.from_env()
        max_age = base.equipment_max_age
        if self.equipment_max_age_hours is not None:
            max_age = timedelta(hours=self.equipment_max_age_hours)
        return PvpSettings(
            base.sync_threads,
            base.processing_threads,
            max_age,
            self.equipment_batch,
            self.claim_wait_s,
        )
