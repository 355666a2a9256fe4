"""`cars_snapshot` -> `cars_changes` -> `cars`, materialized together by one streaming step.

The three assets are one pass over the upstream: pages are fetched (the snapshot), classified
against stored fingerprints (the change set) and merged (the table) batch by batch, each batch
committed with its checkpoint. Splitting them into three steps would land 200k rows twice; one
`multi_asset` keeps the lineage and the metadata of each stage without that cost.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.asset_metadata import (
    known,
    layered_asset_specs,
    report_partitions,
    table_row_count,
)
from sync_pipeline.defs.cars.checks import (
    CARS_CHECK_SPECS,
    duplicates_check,
    evaluate_cars_checks,
)
from sync_pipeline.defs.cars.config import CarsSyncConfig
from sync_pipeline.defs.cars.partitions import cars_daily_partitions
from sync_pipeline.defs.resources import PostgresResource, UpstreamApiResource
from sync_pipeline.defs.step_failures import STEP_RETRY, run_step
from sync_pipeline.engine.rows_per_day import DayRows, rows_per_day
from sync_pipeline.entities.cars import CARS
from sync_pipeline.pipelines.cars import CarsScope, CarsSyncOutcome, sync_cars

UPSTREAM_TAG = {"sync_pipeline/upstream": "cars"}
# The hourly schedule keeps `cars` within the hour, the nightly full refresh within the day.
CARS_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=2)
)
PARTITIONS_MEAN = (
    " Partitions are UTC days of `updated_at`: a car is in the partition of the day it last "
    "changed, so a car that changes moves to that day's partition (a change of only volatile "
    "fields, such as views, moves nothing). A full refresh covers every partition."
)


@dg.multi_asset(
    specs=layered_asset_specs(
        "cars",
        CARS,
        snapshot="Upstream /cars pages fetched for the partition's updated_at window (or the whole "
        "catalogue on a full refresh), deduplicated and handed to the loader. Its checks "
        "judge the fetch (error rate, throughput).",
        changes="The change set: inserted, updated, unchanged, delisted and quarantined cars, "
        "with the changed ids and field-level diffs (table sync_change_log).",
        table="Table `cars`: one row per car, fingerprinted; delisted cars are soft-deleted. "
        "Its checks judge the table (reconciliation, duplicates, quarantine). Fresh "
        "when a run stored cars within 2 hours (warn) or 26 hours (fail).",
        partitions_note=PARTITIONS_MEAN,
        freshness_policy=CARS_FRESHNESS,
    ),
    check_specs=CARS_CHECK_SPECS,
    partitions_def=cars_daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=registry.source("cars").pool,
    op_tags=UPSTREAM_TAG,
    retry_policy=STEP_RETRY,
)
def cars_sync(
    context: dg.AssetExecutionContext,
    config: CarsSyncConfig,
    postgres: PostgresResource,
    cars_api: UpstreamApiResource,
):
    scope = scope_for(context, config)
    context.log.info(f"cars sync of {scope.label}: {scope.query_params() or 'whole catalogue'}")
    client = cars_api.client(postgres, log=context.log)
    outcome = run_step(_sync(postgres, client, scope, context.run.run_id, config))
    if outcome.resume_note:
        context.log.warning(f"cars {scope.label}: {outcome.resume_note}")
    # The duplicates check's scan of the table runs on the server while Dagster records the
    # materializations of every partition here (0.1 s off a full refresh of 200k cars).
    with ThreadPoolExecutor(1, thread_name_prefix="cars-checks") as background:
        duplicates = background.submit(duplicates_check, postgres.pool())
        days = days_of_run(postgres, scope, context.run.run_id, context.partition_keys)
        yield report_partitions(context, "cars_snapshot", {}, snapshot_metadata(outcome))
        yield report_partitions(
            context, "cars_changes", changes_per_partition(days), changes_metadata(outcome)
        )
        yield report_partitions(context, "cars", table_per_partition(days), table_metadata(outcome))
        yield from evaluate_cars_checks(outcome, config, duplicates.result(), client.config.rps)


async def _sync(
    postgres: PostgresResource, client, scope: CarsScope, run_id: str, config: CarsSyncConfig
) -> CarsSyncOutcome:
    async with client:
        return await sync_cars(postgres.pool(), client, scope, run_id, config.settings())


def scope_for(context: dg.AssetExecutionContext, config: CarsSyncConfig) -> CarsScope:
    """Full refresh when configured; else the (range of) daily window(s) of the run."""
    if config.full_refresh:
        return CarsScope.full_refresh()
    keys = context.partition_key_range
    window = context.partition_time_window
    label = keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"
    return CarsScope.for_window(label, window.start, window.end)


def days_of_run(
    postgres: PostgresResource, scope: CarsScope, run_id: str, partition_keys: list[str]
) -> dict[str, DayRows]:
    """What each daily partition of the run holds now, and what the run wrote there (zero for
    a partition without rows, so that a plot shows the zero)."""
    with postgres.connection() as conn:
        found = rows_per_day(
            conn, CARS.table, "updated_at", scope.updated_since, scope.updated_until, run_id
        )
    return {key: found.get(key, DayRows()) for key in partition_keys}


def changes_per_partition(days: dict[str, DayRows]) -> dict[str, dict[str, Any]]:
    return {day: {"partition_rows_written": rows.written} for day, rows in days.items()}


def table_per_partition(days: dict[str, DayRows]) -> dict[str, dict[str, Any]]:
    return {
        day: {
            "partition_live_rows": rows.live,
            "partition_rows_written": rows.written,
            **table_row_count(CARS, rows.live),
        }
        for day, rows in days.items()
    }


def snapshot_metadata(o: CarsSyncOutcome) -> dict:
    h = o.http
    return {
        "scope": o.scope.label,
        "pages": o.walk.pages,
        "records": o.walk.records,
        "upstream_total": known(o.walk.upstream_total),
        "resumed_from_page": o.resumed_from_page or 0,
        "resume_note": o.resume_note or "",
        "duplicates_dropped": h.get("duplicates_dropped", 0),
        "pages_per_s": float(h.get("pages_per_s", 0.0)),
        "rows_per_s": float(h.get("rows_per_s", 0.0)),
        "latency_p50_ms": float(h.get("latency_p50_ms", 0.0)),
        "latency_p95_ms": float(h.get("latency_p95_ms", 0.0)),
        "latency_p99_ms": float(h.get("latency_p99_ms", 0.0)),
        "requests": h.get("requests", 0),
        "retries": h.get("retries", 0),
        "http_429": h.get("http_429", 0),
        "breaker_openings": h.get("breaker_openings", 0),
        **{k: v for k, v in h.items() if k.startswith("errors_")},
    }


def changes_metadata(o: CarsSyncOutcome) -> dict:
    r = o.result
    refused = r.snapshot.refused if r.snapshot is not None else None
    return {
        "inserted": r.inserted,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "delisted": r.soft_deleted,
        "quarantined": r.quarantined,
        "sanitized_values": r.sanitized_values,
        "diffs_logged": r.diffs_logged,
        "delist_refused": refused or "",
        **delisting_metadata(o),
        "changed_ids_sample": dg.MetadataValue.json([_plain(k) for k in r.changed_keys[:50]]),
        "field_diffs_sample": dg.MetadataValue.json(o.diff_sample),
    }


def delisting_metadata(o: CarsSyncOutcome) -> dict:
    """How a full refresh settled the stored cars it did not see: proven gone (delisted unless
    refused), or deferred to the next full refresh (could not be told gone from shifted)."""
    snapshot = o.result.snapshot
    if snapshot is None:
        return {}
    return {
        "proven_gone": o.walk.proven_gone,
        "boundary_pages_reread": o.walk.reread_pages,
        "delist_deferred": snapshot.deferred,
        "delist_deferred_reason": snapshot.deferred_reason or "",
    }


def table_metadata(o: CarsSyncOutcome) -> dict:
    r = o.result
    processed_per_s = (r.inserted + r.updated + r.unchanged + r.quarantined) / max(
        o.elapsed_s, 1e-9
    )
    return {
        "live_rows": o.live_rows,
        "rows_written": r.written,
        "quarantined": r.quarantined,
        "sanitized_values": r.sanitized_values,
        "elapsed_s": o.elapsed_s,
        "rows_per_s": processed_per_s,
        "pages_per_s": float(o.http.get("pages_per_s", 0.0)),
        "latency_p95_ms": float(o.http.get("latency_p95_ms", 0.0)),
        "retries": o.http.get("retries", 0),
        "summary": dg.MetadataValue.md(summary_markdown(o)),
    }


def summary_markdown(o: CarsSyncOutcome) -> str:
    r = o.result
    lines = [
        (
            f"**cars {o.scope.label}**: {o.walk.records:,} records in {o.walk.pages:,} pages, "
            f"{o.elapsed_s:.1f} s ({o.http.get('pages_per_s', 0):.1f} pages/s, "
            f"p95 {o.http.get('latency_p95_ms', 0):.0f} ms)"
        ),
        "",
        "| inserted | updated | unchanged | delisted | quarantined | live rows |",
        "|---:|---:|---:|---:|---:|---:|",
        (
            f"| {r.inserted:,} | {r.updated:,} | {r.unchanged:,} | {r.soft_deleted:,} "
            f"| {r.quarantined:,} | {o.live_rows:,} |"
        ),
    ]
    if o.resume_note:
        lines += ["", f"Resumed: {o.resume_note}."]
    if r.sanitized_values:
        lines += ["", f"NUL characters stripped from {r.sanitized_values:,} value(s)."]
    if r.snapshot is not None and r.snapshot.refused:
        lines += ["", f"Delisting refused: {r.snapshot.refused}"]
    if r.snapshot is not None and r.snapshot.deferred:
        deferred = r.snapshot.deferred
        reason = r.snapshot.deferred_reason
        lines += [
            "",
            f"Delisting of {deferred:,} car(s) deferred to the next full refresh: {reason}",
        ]
    if o.diff_sample:
        lines += [
            "",
            "Field changes (sample): "
            + ", ".join(f"{d['id']}.{d['field']}" for d in o.diff_sample[:10]),
        ]
    return "\n".join(lines)


def _plain(key) -> object:
    return json.loads(json.dumps(key, default=str))
