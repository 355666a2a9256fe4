"""Metadata a user can plot: per-partition figures on their own partition in a range run, run-wide
figures once, no placeholder numbers, one type per key across runs, the table's schema and
row counts, checks on the asset they judge with their targets in their definition."""

from __future__ import annotations

import dagster as dg
import psycopg

from sync_pipeline.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sync_pipeline.definitions import defs
from sync_pipeline.entities.cars import CARS
from sync_pipeline_tests.defs.cars.conftest import run_cars

RANGE = ["2026-11-01", "2026-11-02", "2026-11-03"]
RUN_WIDE = ("rows_per_s", "summary", "elapsed_s")


def plain(value):
    """A definition's metadata value, whether Dagster normalized it or not."""
    return value.value if isinstance(value, dg.MetadataValue) else value


def materializations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetMaterialization]:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    return [r.dagster_event.event_specific_data.materialization for r in records]


def run_range(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("cars_sync_job")
    tags = {ASSET_PARTITION_RANGE_START_TAG: RANGE[0], ASSET_PARTITION_RANGE_END_TAG: RANGE[-1]}
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def live_per_day(db_url) -> dict[str, int]:
    with psycopg.connect(db_url.conninfo()) as conn:
        rows = conn.execute(
            "SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*) FROM cars "
            "WHERE deleted_at IS NULL GROUP BY 1"
        ).fetchall()
    return dict(rows)


def test_a_range_run_reports_each_partition_its_own_figures(cars_env, db_url, instance):
    result = run_range(instance)
    assert result.success
    table = {
        m.partition: m.metadata
        for m in materializations(instance, result.run_id)
        if m.asset_key.to_user_string() == "cars"
    }
    assert sorted(table) == RANGE
    stored = live_per_day(db_url)
    for day in RANGE:
        assert table[day]["partition_live_rows"].value == stored[day] > 0
        assert table[day]["dagster/row_count"].value == stored[day]
        assert table[day]["partition_rows_written"].value == stored[day]
    assert len({table[day]["partition_live_rows"].value for day in RANGE}) > 1, (
        "per-partition figures are flat"
    )
    for key in RUN_WIDE:
        assert [day for day in RANGE if key in table[day]] == [RANGE[-1]], (
            f"{key} not reported once"
        )


def test_no_placeholders_and_one_type_per_key_across_runs(cars_env, instance):
    runs = [
        run_cars(instance, partition=RANGE[0]),
        run_range(instance),
        run_cars(instance, full_refresh=True),
    ]
    assert all(r.success for r in runs)
    seen: dict[tuple[str, str], set[str]] = {}
    for run in runs:
        for m in materializations(instance, run.run_id):
            for key, value in m.metadata.items():
                assert value.value != -1, (
                    f"{m.asset_key.to_user_string()}.{key} is a -1 placeholder"
                )
                seen.setdefault((m.asset_key.to_user_string(), key), set()).add(
                    type(value).__name__
                )
        for evaluation in (
            e.event_specific_data
            for e in run.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ):
            for key, value in evaluation.metadata.items():
                assert value.value != -1, f"check {evaluation.check_name}.{key} is a -1 placeholder"
                seen.setdefault((evaluation.check_name, key), set()).add(type(value).__name__)
    mixed = {key: types for key, types in seen.items() if len(types - {"NullMetadataValue"}) > 1}
    assert mixed == {}


def test_the_table_asset_carries_its_schema_owners_and_code_version():
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey("cars"))
    schema = plain(node.metadata["dagster/column_schema"])
    assert [c.name for c in schema.columns][: len(CARS.columns)] == list(CARS.column_names)
    assert {c.name: c.type for c in schema.columns}["price"] == "numeric(12,2)"
    assert plain(node.metadata["dagster/table_name"]) == "cars"
    assert node.kinds == {"postgres"} and node.owners and node.code_version
    assert "moves to that day's partition" in node.description


def test_checks_sit_on_the_asset_they_judge_with_their_targets():
    specs = {
        key.name: spec
        for key, spec in (
            (k, defs.resolve_asset_graph().get_check_spec(k))
            for k in defs.resolve_asset_graph().asset_check_keys
        )
        if key.asset_key.path[0].startswith("cars")
    }
    assert specs["error_rate"].asset_key == dg.AssetKey("cars_snapshot")
    assert specs["throughput"].asset_key == dg.AssetKey("cars_snapshot")
    for name in ("reconciliation", "no_duplicates", "quarantine_share"):
        assert specs[name].asset_key == dg.AssetKey("cars")
    assert plain(specs["error_rate"].metadata["target_max_error_rate"]) == 0.05
    assert "0.05" in specs["error_rate"].description
