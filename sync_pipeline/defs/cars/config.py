"""Per-run settings of a cars sync, editable in the launchpad.

Knobs left unset take the environment (`PAGE_SIZE`, `BATCH_SIZE`, `PARALLEL_BATCHES`), then the
original job's defaults (100, 500, 6). `RPS` and `CONCURRENCY` belong to the `cars_api` resource.
"""

import dagster as dg
from pydantic import Field

from sync_pipeline.defs.resources import env_number
from sync_pipeline.pipelines.cars import CarsSyncSettings

FULL_REFRESH_BUDGET_S = 25 * 60


class CarsSyncConfig(dg.Config):
    full_refresh: bool = Field(default=False, description="Walk the whole catalogue; the only run that may delist cars.")
    force_delist: bool = Field(default=False, description="Delist even when the missing share reaches the 5% safety threshold.")
    page_size: int | None = Field(default=None, description="Records per page (default PAGE_SIZE or 100; API max 1000).")
    batch_size: int | None = Field(default=None, description="Rows per transaction (default BATCH_SIZE or 500).")
    parallel_batches: int | None = Field(default=None, description="Transactions in flight (default PARALLEL_BATCHES or 6).")
    min_pages_per_s: float = Field(default=10.0, description="Throughput check: pages/s after warm-up.")
    min_rows_per_s: float = Field(default=2000.0, description="Throughput check: rows/s after warm-up.")
    max_error_rate: float = Field(default=0.05, description="Error-rate check: failed attempts per request.")
    runtime_budget_s: float = Field(default=FULL_REFRESH_BUDGET_S, description="Runtime check: seconds for the run.")

    def settings(self) -> CarsSyncSettings:
        return CarsSyncSettings(
            page_size=int(self.page_size or env_number("PAGE_SIZE", 100)),
            batch_size=int(self.batch_size or env_number("BATCH_SIZE", 500)),
            parallel_batches=int(self.parallel_batches or env_number("PARALLEL_BATCHES", 6)),
            force_delist=self.force_delist,
        )
