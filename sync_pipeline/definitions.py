"""The one `dg.Definitions` of the code location: every source's assets, checks, sensors,
schedules and jobs, and the shared resources, assembled here and nowhere else."""

import dagster as dg

from sync_pipeline.defs.cars.assets import cars_sync
from sync_pipeline.defs.cars.jobs import cars_hourly_schedule, cars_nightly_full_refresh_schedule, cars_sync_job
from sync_pipeline.defs.resources import shared_resources

defs = dg.Definitions(
    assets=[cars_sync],
    jobs=[cars_sync_job],
    schedules=[cars_hourly_schedule, cars_nightly_full_refresh_schedule],
    resources=shared_resources(),
)
