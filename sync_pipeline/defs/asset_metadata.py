"""Asset attributes and metadata every source reports the same way, so that the UI can plot it.

- `asset_attributes`: owners, tags and code version of a source's asset, from its registry entry;
- `table_definition_metadata`: the table's name and column schema (built from the entity spec),
  shown on the asset before any run; `table_row_count` adds the rows a run counted;
- `report_partitions`: a range run (a backfill, a full refresh) materializes every partition of
  its range; Dagster copies a `MaterializeResult`'s metadata onto each, which flattens
  per-partition plots. Per-partition figures go to their own partition, the run-wide figures
  (rates, latencies, the summary) once, to the last partition of the range.
- `known`: a figure that may be unknown (an upstream that sent no total) is `null`, never a
  placeholder number a plot would draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.dagster_private import TableMetadataSet
from sync_pipeline.engine.entity import EntitySpec

BOOKKEEPING_COLUMNS = (
    ("extra", "jsonb", "unknown top-level fields of the record (NULL when none)"),
    ("fingerprint", "bytea", "xxh3-128 of the record's business fields"),
    ("deleted_at", "timestamptz", "set when the record left the upstream (soft-delete)"),
    ("first_seen_at", "timestamptz", "when the row was first inserted"),
    ("synced_at", "timestamptz", "when the row's current version was written"),
    ("last_run_id", "text", "the Dagster run that wrote the current version"),
)


def asset_attributes(source: str, layer: str) -> dict[str, Any]:
    """`owners`, `tags` and `code_version` for an `AssetSpec` of `source`; `layer` says what the
    asset is (`snapshot`: what the upstream sent; `changes`: the change set; `table`)."""
    entry = registry.source(source)
    return {
        "owners": list(entry.owners),
        "tags": {"source": source, "layer": layer, "upstream": entry.upstream},
        "code_version": entry.code_version,
    }


def table_schema(spec: EntitySpec) -> dg.TableSchema:
    """The table's columns: one per contract field (the key ones not nullable), then the
    bookkeeping every synced table has."""
    columns = [
        dg.TableColumn(
            c.name,
            c.type.sql_name,
            constraints=dg.TableColumnConstraints(nullable=c.name not in spec.key),
        )
        for c in spec.columns
    ]
    columns += [
        dg.TableColumn(name, kind, description=text) for name, kind, text in BOOKKEEPING_COLUMNS
    ]
    return dg.TableSchema(columns=columns)


def table_definition_metadata(spec: EntitySpec) -> dict[str, Any]:
    """Definition metadata of a table asset: its name and column schema."""
    return dict(TableMetadataSet(table_name=spec.table, column_schema=table_schema(spec)))


def table_row_count(spec: EntitySpec, rows: int) -> dict[str, Any]:
    """Materialization metadata of a table asset: its name and the rows counted."""
    return dict(TableMetadataSet(table_name=spec.table, row_count=int(rows)))


def known(value: float | None) -> Any:
    """`value`, or `MetadataValue.null()` when it is not known."""
    return dg.MetadataValue.null() if value is None else value


def report_partitions(
    context: dg.AssetExecutionContext,
    asset: str,
    per_partition: Mapping[str, Mapping[str, Any]],
    run_wide: Mapping[str, Any],
) -> dg.MaterializeResult:
    """The materialization of `asset` for every partition of the run: each partition with its
    own figures (`per_partition`, by key), the run-wide ones on the last partition only. An
    unpartitioned asset gets both."""
    if not context.has_partition_key_range:
        return dg.MaterializeResult(asset_key=asset, metadata={**run_wide})
    keys = list(context.partition_keys)
    for key in keys:
        figures = dict(per_partition.get(key, {}))
        if key == keys[-1]:
            figures.update(run_wide)
        if figures:
            context.add_asset_metadata(figures, asset_key=asset, partition_key=key)
    return dg.MaterializeResult(asset_key=asset)


def layered_asset_specs(
    source: str,
    entity: EntitySpec,
    *,
    snapshot: str,
    changes: str,
    table: str,
    partitions_note: str = "",
    freshness_policy: dg.FreshnessPolicy | None = None,
) -> list[dg.AssetSpec]:
    """The three layers a listing source materializes, each depending on the one before:
    `<source>_snapshot` (what the upstream sent), `<source>_changes` (the change set) and the
    table `<source>`; the descriptions say what each holds, `partitions_note` what a partition
    means."""
    freshness = {"freshness_policy": freshness_policy} if freshness_policy else {}
    return [
        dg.AssetSpec(
            f"{source}_snapshot",
            group_name=source,
            kinds={"python"},
            description=snapshot + partitions_note,
            **asset_attributes(source, "snapshot"),
        ),
        dg.AssetSpec(
            f"{source}_changes",
            group_name=source,
            deps=[f"{source}_snapshot"],
            kinds={"python"},
            description=changes + partitions_note,
            **asset_attributes(source, "changes"),
        ),
        dg.AssetSpec(
            source,
            group_name=source,
            deps=[f"{source}_changes"],
            kinds={"postgres"},
            description=table + partitions_note,
            metadata=table_definition_metadata(entity),
            **freshness,
            **asset_attributes(source, "table"),
        ),
    ]
