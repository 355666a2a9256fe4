"""`cars_snapshot` -> `cars_changes` -> `cars`, materialized together by one streaming step.

The three assets are one pass over the upstream: pages are fetched (the snapshot), classified
against stored fingerprints (the change set) and merged (the table) batch by batch, each batch
committed with its checkpoint. Splitting them into three steps would land 200k rows twice; one
`multi_asset` keeps the lineage and the metadata of each stage without that cost.
"""


import asyncio
import json

import dagster as dg

from sync_pipeline.defs.cars.checks import CARS_CHECK_SPECS, evaluate_cars_checks
from sync_pipeline.defs.cars.config import CarsSyncConfig
from sync_pipeline.defs.cars.partitions import cars_daily_partitions
from sync_pipeline.defs.resources import PostgresResource, UpstreamApiResource
from sync_pipeline.pipelines.cars import CarsScope, CarsSyncOutcome, sync_cars

UPSTREAM_TAG = {"sync_pipeline/upstream": "cars"}
RETRY_TAGS = {"dagster/max_retries": "2"}
GROUP = "cars"


@dg.multi_asset(
    specs=[
        dg.AssetSpec("cars_snapshot", group_name=GROUP, kinds={"python"},
                     description="Upstream /cars pages fetched for the partition's updated_at window (or the whole "
                                 "catalogue on a full refresh), deduplicated and handed to the loader."),
        dg.AssetSpec("cars_changes", group_name=GROUP, deps=["cars_snapshot"], kinds={"python"},
                     description="The change set: inserted, updated, unchanged, delisted and quarantined cars, "
                                 "with the changed ids and field-level diffs (table sync_change_log)."),
        dg.AssetSpec("cars", group_name=GROUP, deps=["cars_changes"], kinds={"postgres"},
                     description="Table `cars`: one row per car, fingerprinted; delisted cars are soft-deleted."),
    ],
    check_specs=CARS_CHECK_SPECS,
    partitions_def=cars_daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="cars_api",
    op_tags=UPSTREAM_TAG,
)
def cars_sync(context: dg.AssetExecutionContext, config: CarsSyncConfig, postgres: PostgresResource,
              cars_api: UpstreamApiResource):
    scope = scope_for(context, config)
    context.log.info(f"cars sync of {scope.label}: {scope.query_params() or 'whole catalogue'}")
    client = cars_api.client(postgres, log=context.log)
    outcome = asyncio.run(_sync(postgres, client, scope, context.run.run_id, config))
    yield dg.MaterializeResult(asset_key="cars_snapshot", metadata=snapshot_metadata(outcome))
    yield dg.MaterializeResult(asset_key="cars_changes", metadata=changes_metadata(outcome))
    yield dg.MaterializeResult(asset_key="cars", metadata=table_metadata(outcome))
    yield from evaluate_cars_checks(outcome, config, postgres.pool())


async def _sync(postgres: PostgresResource, client, scope: CarsScope, run_id: str,
                config: CarsSyncConfig) -> CarsSyncOutcome:
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


def snapshot_metadata(o: CarsSyncOutcome) -> dict:
    h = o.http
    return {
        "scope": o.scope.label, "pages": o.walk.pages, "records": o.walk.records,
        "upstream_total": o.walk.upstream_total if o.walk.upstream_total is not None else -1,
        "resumed_from_page": o.resumed_from_page or 0, "duplicates_dropped": h.get("duplicates_dropped", 0),
        "pages_per_s": float(h.get("pages_per_s", 0.0)), "rows_per_s": float(h.get("rows_per_s", 0.0)),
        "latency_p50_ms": float(h.get("latency_p50_ms", 0.0)), "latency_p95_ms": float(h.get("latency_p95_ms", 0.0)),
        "latency_p99_ms": float(h.get("latency_p99_ms", 0.0)), "requests": h.get("requests", 0),
        "retries": h.get("retries", 0), "http_429": h.get("http_429", 0),
        "breaker_openings": h.get("breaker_openings", 0),
        **{k: v for k, v in h.items() if k.startswith("errors_")},
    }


def changes_metadata(o: CarsSyncOutcome) -> dict:
    r = o.result
    refused = r.snapshot.refused if r.snapshot is not None else None
    return {
        "inserted": r.inserted, "updated": r.updated, "unchanged": r.unchanged, "delisted": r.soft_deleted,
        "quarantined": r.quarantined, "diffs_logged": r.diffs_logged,
        "delist_refused": refused or "",
        "changed_ids_sample": dg.MetadataValue.json([_plain(k) for k in r.changed_keys[:50]]),
        "field_diffs_sample": dg.MetadataValue.json(o.diff_sample),
    }


def table_metadata(o: CarsSyncOutcome) -> dict:
    r = o.result
    processed_per_s = (r.inserted + r.updated + r.unchanged + r.quarantined) / max(o.elapsed_s, 1e-9)
    return {
        "live_rows": o.live_rows, "rows_written": r.written, "elapsed_s": o.elapsed_s,
        "rows_per_s": processed_per_s, "pages_per_s": float(o.http.get("pages_per_s", 0.0)),
        "latency_p95_ms": float(o.http.get("latency_p95_ms", 0.0)), "retries": o.http.get("retries", 0),
        "summary": dg.MetadataValue.md(summary_markdown(o)),
    }


def summary_markdown(o: CarsSyncOutcome) -> str:
    r = o.result
    lines = [
        f"**cars {o.scope.label}**: {o.walk.records:,} records in {o.walk.pages:,} pages, {o.elapsed_s:.1f} s "
        f"({o.http.get('pages_per_s', 0):.1f} pages/s, p95 {o.http.get('latency_p95_ms', 0):.0f} ms)",
        "",
        "| inserted | updated | unchanged | delisted | quarantined | live rows |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {r.inserted:,} | {r.updated:,} | {r.unchanged:,} | {r.soft_deleted:,} | {r.quarantined:,} | {o.live_rows:,} |",
    ]
    if r.snapshot is not None and r.snapshot.refused:
        lines += ["", f"Delisting refused: {r.snapshot.refused}"]
    if o.diff_sample:
        lines += ["", "Field changes (sample): " + ", ".join(f"{d['id']}.{d['field']}" for d in o.diff_sample[:10])]
    return "\n".join(lines)


def _plain(key) -> object:
    return json.loads(json.dumps(key, default=str))
