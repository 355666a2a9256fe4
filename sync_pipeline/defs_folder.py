"""Loading `defs/` the way `dg` loads a project: the whole folder, or one source's package.

The code location's one `Definitions` (`definitions.py`) is the whole folder: every module of
it, so a file written by `dg scaffold defs` loads too, with the resources of the source
registry. A run of one source in this process (`sync-pipeline sync SOURCE`) needs only that
source's package: `source_definitions` loads it the same way, with the same resources, so its
job is the code location's job (same assets, checks, partitions, tags and resources), without
importing the other sources, the alert sensors or the component library's listing that only
the UI reads (about 0.4 s of every command).
"""

from __future__ import annotations

import functools
import importlib
import warnings
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
    """The whole `defs/` folder and every resource; fails naming an unregistered package."""
    mismatch = source_packages_mismatch()
    if mismatch:
        raise dg.DagsterInvalidDefinitionError(mismatch)
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=DEFS_FOLDER),
        dg.Definitions(resources=shared_resources()),
    )


@functools.cache
def source_definitions(name: str) -> dg.Definitions:
    """The registered source `name`'s package under `defs/` and every resource."""
    package = importlib.import_module(registry.source(name).dagster)
    project_root = dg.ComponentTree.for_project(path_within_project=DEFS_FOLDER).project_root
    tree = dg.ComponentTree.from_module(defs_module=package, project_root=project_root)
    with warnings.catch_warnings():
        # Loading a package's modules goes through Dagster's preview module loader, whose
        # warning `load_from_defs_folder` silences the same way.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        folder = tree.build_defs(tree.defs_module_path)
    return dg.Definitions.merge(folder, dg.Definitions(resources=shared_resources()))
