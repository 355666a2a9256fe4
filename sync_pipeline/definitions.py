"""The one `dg.Definitions` of the code location.

Assets, checks, jobs, schedules and sensors are loaded from `defs/` the way `dg` loads a
project (every module of the folder, so a file written by `dg scaffold defs` loads too); the
resources come from the source registry. Every package under `defs/` must be a registered
source's Dagster module and every registered source must have one, or loading fails saying
which (a source left out of the registry would otherwise run without its limits).
"""

from pathlib import Path

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.resources import shared_resources

DEFS_FOLDER = Path(__file__).parent / "defs"


def source_packages_mismatch() -> str:
    """Why `defs/` and the registry disagree, or "" when every source package is registered."""
    packages = {p.name for p in DEFS_FOLDER.iterdir() if (p / "__init__.py").exists()}
    registered = {s.dagster.removeprefix("sync_pipeline.defs.") for s in registry.SOURCES}
    problems = [
        f"defs/{name} is not a registered source (add it to sync_pipeline/registry.py)"
        for name in sorted(packages - registered)
    ]
    problems += [
        f"registered source module sync_pipeline.defs.{name} has no package under defs/"
        for name in sorted(registered - packages)
    ]
    return "; ".join(problems)


def build_definitions() -> dg.Definitions:
    mismatch = source_packages_mismatch()
    if mismatch:
        raise dg.DagsterInvalidDefinitionError(mismatch)
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(resources=shared_resources()),
    )


defs = build_definitions()
