"""`sync-pipeline sync SOURCE`: run one source's job through Dagster from the terminal.

The run executes in this process on the project's PostgreSQL-backed Dagster instance, so it
shows in the UI's run history like any other; the engine draws its progress bar on the
terminal. Prints the materialization summary and the checks; exit 1 when the run or a blocking
check failed. Sources with no `SYNC_<SOURCE>_API_URL` get the embedded reference upstream.
"""

from __future__ import annotations

import importlib
import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from sync_pipeline.db.connect import app_database_url
from sync_pipeline.db.migrations import migrate
from sync_pipeline.errors import ConfigError
from sync_pipeline.instance import persistent_instance
from sync_pipeline.settings import pool_size
from sync_pipeline.upstream.process import start_for_unset_sources

QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class SourceSync:
    """How the CLI runs one source: its job, and what a full refresh adds to a run."""

    job_name: str
    op_name: str
    partitions: dg.PartitionsDefinition
    upstream: str
    summary_asset: str = ""

    def full_refresh_tags(self) -> dict[str, str]:
        """Run tags that make one run cover every partition (a full refresh refreshes them all)."""
        keys = self.partitions.get_partition_keys()
        return {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1],
                "sync_pipeline/full_refresh": "true", "sync_pipeline/upstream": self.upstream}

    def run_config(self, full_refresh: bool, op_config: dict[str, Any] | None = None) -> dict[str, Any]:
        config = {**(op_config or {}), **({"full_refresh": True} if full_refresh else {})}
        return {**QUIET_LOGGING, **({"ops": {self.op_name: {"config": config}}} if config else {})}


SOURCE_SYNCS: dict[str, str] = {
    "cars": "sync_pipeline.defs.cars.jobs:CARS_SOURCE_SYNC",
    "users": "sync_pipeline.defs.users.jobs:USERS_SOURCE_SYNC",
}


def run_source_sync(source: str, full_refresh: bool, partition: str | None) -> int:
    spec = _load(source)
    pool_size()
    url = app_database_url()
    migrate(url)
    with ExitStack() as stack:
        start_for_unset_sources(stack, os.environ)
        instance = stack.enter_context(persistent_instance(url))
        result = execute_source_run(spec, instance, full_refresh, partition)
    print_summary(result, spec)
    return 0 if result.success and not failed_blocking_checks(result) else 1


def execute_source_run(spec: SourceSync, instance: dg.DagsterInstance, full_refresh: bool,
                       partition: str | None, op_config: dict[str, Any] | None = None) -> dg.ExecuteInProcessResult:
    """One run of the source's job in this process: a full refresh, or one partition (default:
    the latest); `op_config` adds to the step's config. Raises `ConfigError` for a bad key."""
    from sync_pipeline.definitions import defs

    job = defs.resolve_job_def(spec.job_name)
    run_config = spec.run_config(full_refresh, op_config)
    tags: dict[str, str] = {}
    partition_key = None
    if full_refresh:
        tags = spec.full_refresh_tags()
    else:
        partition_key = partition or spec.partitions.get_last_partition_key()
        if not spec.partitions.has_partition_key(partition_key):
            raise ConfigError(f"{partition_key!r} is not a partition of {spec.job_name}")
    return job.execute_in_process(instance=instance, run_config=run_config, tags=tags,
                                  partition_key=partition_key, raise_on_error=False)


def failed_blocking_checks(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    return [e for e in check_evaluations(result) if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR]


def print_summary(result: dg.ExecuteInProcessResult, spec: SourceSync) -> None:
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    if spec.summary_asset and result.success:
        summary = materialization_metadata(result, spec.summary_asset).get("summary")
        if summary is not None:
            print(summary)
    for evaluation in check_evaluations(result):
        status = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
        figures = ", ".join(f"{k}={_short(v.value)}" for k, v in evaluation.metadata.items())
        print(f"check {evaluation.check_name}: {status}  {figures}")
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            print(f"error: {event.step_failure_data.error.message.strip().splitlines()[0]}")


def check_evaluations(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    """Every asset check the run evaluated, in order."""
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The plain metadata values of the run's first materialization of `asset`; KeyError if none."""
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in materialization.metadata.items()}
    raise KeyError(f"{asset} was not materialized in run {result.run_id}")


def _short(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _load(source: str) -> SourceSync:
    target = SOURCE_SYNCS.get(source)
    if target is None:
        raise ConfigError(f"source {source!r} has no pipeline yet; available: {', '.join(SOURCE_SYNCS)}")
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)
