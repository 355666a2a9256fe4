"""`sync-pipeline sync SOURCE`: which sources can be synced from the terminal, and how.

Each entry maps a source to `module:function`; the function takes (full_refresh, partition)
and returns the exit code.
"""

from __future__ import annotations

import importlib

from sync_pipeline.errors import ConfigError

SOURCE_SYNCS: dict[str, str] = {}


def run_source_sync(source: str, full_refresh: bool, partition: str | None) -> int:
    target = SOURCE_SYNCS.get(source)
    if target is None:
        raise ConfigError(f"source {source!r} has no pipeline yet; available: {', '.join(SOURCE_SYNCS) or 'none'}")
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)(full_refresh=full_refresh, partition=partition)
