"""How the CLI runs one source's job: `SourceSync`, named by the source's registry entry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import dagster as dg

from sync_pipeline.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sync_pipeline.errors import ConfigError

# The CLI prints its own summary and one line per failed step; Dagster's console logger would
# add every event's traceback (an interrupted run printed 69 lines).
QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
RESULT_TAG = "sync_pipeline/result"
"""A run's one-line result (`298 of 300 stores`), for the run list and the CLI's summary."""
_FORMAT_NAMES = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH", "%M": "MM"}


@dataclass(frozen=True)
class SourceSync:
    """How the CLI runs one source: its job, and what a full refresh adds to a run."""

    source: str
    job_name: str
    op_name: str
    partitions: dg.PartitionsDefinition
    upstream: str
    summary_asset: str = ""
    discovers_partitions: ClassVar[bool] = False
    """True when partitions are known only once the upstream is asked (`prepare_partitions`)."""

    def job(self, name: str = "") -> dg.JobDefinition:
        """The source's job `name` (default: its sync job) as the code location defines it."""
        from sync_pipeline.defs_folder import source_definitions  # it imports the source

        return source_definitions(self.source).resolve_job_def(name or self.job_name)

    def full_refresh_tags(self) -> dict[str, str]:
        """Run tags that make one run cover every partition (a full refresh refreshes them all)."""
        keys = self.partitions.get_partition_keys()
        return {
            ASSET_PARTITION_RANGE_START_TAG: keys[0],
            ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            "sync_pipeline/full_refresh": "true",
            "sync_pipeline/upstream": self.upstream,
        }

    def prepare_partitions(self, instance: dg.DagsterInstance) -> None:
        """Register partitions known only at run time (none by default; contacts' workspaces)."""

    def resolve_partition(self, key: str) -> str:
        """The Dagster partition key for the key a user typed (the same key by default)."""
        return key

    def checked_partition(self, key: str) -> str:
        """The Dagster key for `key`; `ConfigError` naming the format and range when it is none."""
        resolved = self.resolve_partition(key)
        if not self.partitions.has_partition_key(resolved):
            raise ConfigError(
                f"--partition {key!r} is not a partition of {self.job_name}: "
                f"{self.partition_hint()}"
            )
        return resolved

    def partition_hint(self) -> str:
        """What a valid key looks like: `a day as YYYY-MM-DD, from ... to ...`, or the keys."""
        if isinstance(self.partitions, dg.TimeWindowPartitionsDefinition):
            shown = self.partitions.fmt
            for code, name in _FORMAT_NAMES.items():
                shown = shown.replace(code, name)
            first = self.partitions.get_first_partition_key()
            return f"expected {shown}, from {first} to {self.partitions.get_last_partition_key()}"
        keys = list(self.partitions.get_partition_keys())
        return f"expected one of {', '.join(keys)}"

    def default_partitions(self) -> list[str]:
        """The partitions a run without `--partition` covers, one run each (the latest by
        default)."""
        return [self.partitions.get_last_partition_key()]

    def execute(
        self, instance: dg.DagsterInstance, full_refresh: bool, keys: list[str | None]
    ) -> Iterator[dg.ExecuteInProcessResult]:
        """The CLI's runs in this process, one per checked key (None: a full refresh)."""
        from sync_pipeline.sources import execute_source_run  # it imports this module

        for key in keys:
            yield execute_source_run(self, instance, full_refresh, key)

    def run_config(
        self, full_refresh: bool, op_config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        config = {**(op_config or {}), **({"full_refresh": True} if full_refresh else {})}
        return {**QUIET_LOGGING, **({"ops": {self.op_name: {"config": config}}} if config else {})}
