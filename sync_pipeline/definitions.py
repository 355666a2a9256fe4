"""The one `dg.Definitions` of the code location.

Assets, checks, jobs, schedules and sensors are loaded from `defs/` the way `dg` loads a
project (every module of the folder, so a file written by `dg scaffold defs` loads too); the
resources come from the source registry. The loading lives in `defs_folder.py`, beside the
one-source loading `sync-pipeline sync` uses. Every package under `defs/` must be a registered
source's Dagster module and every registered source must have one, or loading fails saying which
(a source left out of the registry would otherwise run without its limits).
"""

from sync_pipeline.defs_folder import build_definitions

defs = build_definitions()
