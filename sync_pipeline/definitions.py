"""The one `dg.Definitions` of the code location: every source's assets, checks, sensors,
schedules and jobs, and the shared resources, assembled here and nowhere else."""

import dagster as dg

from sync_pipeline.defs.resources import shared_resources

defs = dg.Definitions(
    assets=[],
    resources=shared_resources(),
)
