"""The one `dg.Definitions` of the code location: every source's assets, checks, sensors,
schedules and jobs, and the shared resources, assembled here and nowhere else."""

import dagster as dg

from sync_pipeline.defs.cars.assets import cars_sync
from sync_pipeline.defs.cars.jobs import cars_hourly_schedule, cars_nightly_full_refresh_schedule, cars_sync_job
from sync_pipeline.defs.resources import shared_resources
from sync_pipeline.defs.users.assets import users_sync
from sync_pipeline.defs.users.jobs import users_daily_reconcile_schedule, users_sync_job, users_worker_job
from sync_pipeline.defs.users.sensors import users_change_detector

defs = dg.Definitions(
    assets=[cars_sync, users_sync],
    jobs=[cars_sync_job, users_worker_job, users_sync_job],
    schedules=[cars_hourly_schedule, cars_nightly_full_refresh_schedule, users_daily_reconcile_schedule],
    sensors=[users_change_detector],
    resources=shared_resources(),
)
