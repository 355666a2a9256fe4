"""Per-run settings of a cars sync, editable in the launchpad.

Knobs left unset take the environment (`PAGE_SIZE`, `BATCH_SIZE`, `PARALLEL_BATCHES`), then the
defaults of `CarsSyncSettings` (1000, 5000, 2: what `bench cars` measured best). `RPS` and
`CONCURRENCY` belong to the `cars_api` resource.
"""

import dagster as dg
from pydantic import Field

from sync_pipeline.defs.resources import env_number
from sync_pipeline.pipelines.cars import CarsSyncSettings

FULL_REFRESH_BUDGET_S = 25 * 60
# A run must reach this share of the pages the rate limit allows (latency and writes take the rest).
TARGET_SHARE_OF_LIMIT = 0.5
MAX_ERROR_RATE = 0.05


class CarsSyncConfig(dg.Config):
    full_refresh: bool = Field(
        default=False, description="Walk the whole catalogue; the only run that may delist cars."
    )
    force_delist: bool = Field(
        default=False,
        description="Delist even when the missing share reaches the 5% safety threshold.",
    )
    page_size: int | None = Field(
        default=None, description="Records per page (default PAGE_SIZE or 1000, the API's max)."
    )
    batch_size: int | None = Field(
        default=None, description="Rows per transaction (default BATCH_SIZE or 5000)."
    )
    parallel_batches: int | None = Field(
        default=None, description="Transactions in flight (default PARALLEL_BATCHES or 2)."
    )
    min_pages_per_s: float | None = Field(
        default=None,
        description="Throughput check: pages/s after warm-up (default: half the rate limit).",
    )
    min_rows_per_s: float | None = Field(
        default=None,
        description="Throughput check: rows/s after warm-up (default: pages/s target x page size).",
    )
    max_error_rate: float = Field(
        default=MAX_ERROR_RATE, description="Error-rate check: failed attempts per request."
    )
    runtime_budget_s: float = Field(
        default=FULL_REFRESH_BUDGET_S, description="Runtime check: seconds for the run."
    )

    def throughput_targets(self, rps: float, page_size: int) -> tuple[float, float]:
        """(pages/s, rows/s) the run must reach: as configured, else derived from the rate limit,
        so that the shipped defaults can pass their own check."""
        pages_per_s = self.min_pages_per_s or rps * TARGET_SHARE_OF_LIMIT
        return pages_per_s, self.min_rows_per_s or pages_per_s * page_size

    def settings(self) -> CarsSyncSettings:
        shipped = CarsSyncSettings()
        return CarsSyncSettings(
            page_size=int(self.page_size or env_number("PAGE_SIZE", shipped.page_size)),
            batch_size=int(self.batch_size or env_number("BATCH_SIZE", shipped.batch_size)),
            parallel_batches=int(
                self.parallel_batches or env_number("PARALLEL_BATCHES", shipped.parallel_batches)
            ),
            force_delist=self.force_delist,
        )
