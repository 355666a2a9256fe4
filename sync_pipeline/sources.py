"""`sync-pipeline sync SOURCE`: run one source's job through Dagster from the terminal.

The run executes in this process on the project's PostgreSQL-backed Dagster instance, so it
shows in the UI's run history like any other; the engine draws its progress bar on the
terminal. Prints the materialization summary and the checks; exit 1 when the run or a blocking
check failed. Without `SYNC_<SOURCE>_API_URL`, the source's API alone is served by an embedded
reference upstream generating that API's data only; no other upstream is started.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from typing import Any

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.db.connect import app_database_url, connect
from sync_pipeline.db.migrations import migrate
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.defs.source_sync import (  # the jobs import it from there
    RESULT_TAG,
    SourceSync,
)
from sync_pipeline.engine.http.progress import progress_terminal
from sync_pipeline.instance import apply_pool_limits, persistent_instance
from sync_pipeline.run_launcher import release_slots_of_dead_runs, worker_tags
from sync_pipeline.settings import settings
from sync_pipeline.terminal_summary import print_markdown
from sync_pipeline.upstream.process import start_for_unset_sources

EXIT_INTERRUPTED = 130
INTERRUPT_ERRORS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


def run_source_sync(source: str, full_refresh: bool, partition: str | None) -> int:
    """Validate every setting and the partition, then run; nothing starts on bad input."""
    settings()
    spec = registry.source(source).source_sync()
    if not spec.discovers_partitions:
        keys = run_keys(spec, full_refresh, partition)
    url = app_database_url()
    migrate(url)
    results = []
    with ExitStack() as stack:
        start_for_unset_sources(stack, os.environ, only=[spec.upstream])
        instance = stack.enter_context(persistent_instance(url))
        apply_pool_limits(instance)
        release_slots_of_dead_runs(instance, [registry.source(source).pool])
        stack.enter_context(dg.partition_loading_context(dynamic_partitions_store=instance))
        if spec.discovers_partitions:
            spec.prepare_partitions(instance)
            keys = run_keys(spec, full_refresh, partition)
        stack.enter_context(progress_terminal())
        for result in spec.execute(instance, full_refresh, keys):
            if was_interrupted(result):
                print(interrupted_line(url, result.run_id), file=sys.stderr)
                return EXIT_INTERRUPTED
            results.append(result)
    for result in results:
        print_summary(result, spec)
    return 0 if all(r.success and not failed_blocking_checks(r) for r in results) else 1


def run_keys(spec: SourceSync, full_refresh: bool, partition: str | None) -> list[str | None]:
    """The partition of each run (None: one full-refresh run); `ConfigError` for a bad key."""
    if full_refresh:
        spec.full_refresh_tags()
        return [None]
    return [spec.checked_partition(partition)] if partition else spec.default_partitions()


def was_interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether Ctrl-C (SIGINT) stopped the run: Dagster turns it into a step failure (a step's
    own interrupt is a `dg.Failure` caused by it, `defs/step_failures.py`)."""
    return any(
        event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")
        and INTERRUPT_ERRORS & set(_error_classes(event))
        for event in result.all_events
    )


def interrupted_line(url: DatabaseUrl, run_id: str) -> str:
    """`interrupted; checkpoint kept at page N ...; run the same command to resume`."""
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT pipeline, partition, page FROM sync_checkpoints "
            "WHERE run_id = %s ORDER BY updated_at DESC",
            (run_id,),
        ).fetchall()
    kept = (
        "; ".join(
            f"checkpoint kept at page {page or 0} of {pipeline} ({part})"
            for pipeline, part, page in rows
        )
        or "no page was committed yet"
    )
    return f"sync-pipeline: interrupted; {kept}; run the same command to resume"


def _error_classes(event: dg.DagsterEvent) -> list[str]:
    """The class names of the event's error and of its causes."""
    error = getattr(event.event_specific_data, "error", None)
    names = []
    while error is not None:
        names.append(error.cls_name)
        error = error.cause
    return names


def execute_source_run(
    spec: SourceSync,
    instance: dg.DagsterInstance,
    full_refresh: bool,
    partition: str | None,
    op_config: dict[str, Any] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of the source's job in this process: a full refresh, or one partition (default:
    the latest); `op_config` adds to the step's config. Raises `ConfigError` for a bad key."""
    job = spec.job()
    run_config = spec.run_config(full_refresh, op_config)
    tags = worker_tags()
    partition_key = None
    if full_refresh:
        tags.update(spec.full_refresh_tags())
    else:
        partition_key = (
            spec.checked_partition(partition)
            if partition
            else spec.partitions.get_last_partition_key()
        )
    return job.execute_in_process(
        instance=instance,
        run_config=run_config,
        tags=tags,
        partition_key=partition_key,
        raise_on_error=False,
    )


def failed_blocking_checks(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    return [
        e
        for e in check_evaluations(result)
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]


def print_summary(result: dg.ExecuteInProcessResult, spec: SourceSync) -> None:
    """The run's outcome, its summary table, one line per check (a failed one with its figures,
    their targets and the run's id) and one line per failed step; never a stack trace (the
    run's event log in the UI keeps it)."""
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    if RESULT_TAG in result.dagster_run.tags:
        print(f"result: {result.dagster_run.tags[RESULT_TAG]}")
    if spec.summary_asset and result.success:
        summary = materialization_metadata(result, spec.summary_asset).get("summary")
        if summary is not None:
            print_markdown(summary)
    for evaluation in check_evaluations(result):
        print(check_line(evaluation, result.run_id))
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            print(step_failure_line(event, result.run_id))


def check_line(evaluation: dg.AssetCheckEvaluation, run_id: str) -> str:
    """`check NAME: passed  figure=value, target=...`; a failed check names the run."""
    figures = ", ".join(f"{k}={_short(v.value)}" for k, v in evaluation.metadata.items())
    if evaluation.passed:
        return f"check {evaluation.check_name}: passed  {figures}"
    return (
        f"check {evaluation.check_name}: FAILED ({evaluation.severity.value}) "
        f"in run {run_id}  {figures}"
    )


def step_failure_line(event: dg.DagsterEvent, run_id: str) -> str:
    """One line for a failed step: the error's class and first line, where the trace is kept."""
    error = event.step_failure_data.error
    message = (error.message.strip().splitlines() or [""])[0]
    return (
        f"error: step {event.step_key} of run {run_id} failed: {message} "
        f"(stack trace in the run's event log)"
    )


def check_evaluations(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    """Every asset check the run evaluated, in order."""
    return [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The plain metadata values of the run's last materialization of `asset` (a range run
    reports its run-wide figures on the last partition); KeyError if none."""
    for event in reversed(result.get_asset_materialization_events()):
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in materialization.metadata.items()}
    raise KeyError(f"{asset} was not materialized in run {result.run_id}")


def _short(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)
