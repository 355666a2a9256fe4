"""Pins the Dagster internals `sync_pipeline.dagster_private` re-exports: if an upgrade moves or
changes them, this fails before a partition-range run or the instance storage does."""

import ast
import inspect

import dagster as dg
import pytest
from dagster_postgres import PostgresEventLogStorage

from sync_pipeline import dagster_private
from sync_pipeline.dagster_storage import ProjectEventLogStorage, ProjectPostgresStorage
from sync_pipeline.instance import persistent_instance
from sync_pipeline.settings import project_root

# The tags of a run over partitions a..c of a partitioned asset.
RANGE_A_TO_C = {
    dagster_private.ASSET_PARTITION_RANGE_START_TAG: "a",
    dagster_private.ASSET_PARTITION_RANGE_END_TAG: "c",
}


def batch_sizes(monkeypatch, storage: object, method: str) -> list[int]:
    """The sizes of the event batches `storage.method` is called with from now on (it still
    stores them)."""
    sizes: list[int] = []
    store = getattr(storage, method)
    monkeypatch.setattr(storage, method, lambda events: sizes.append(len(events)) or store(events))
    return sizes


def test_no_other_module_imports_a_private_dagster_module():
    root = project_root()
    importers = set()
    for path in [*root.glob("sync_pipeline/**/*.py"), *root.glob("sync_pipeline_tests/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.startswith("dagster._") for name in names):
                importers.add(path.relative_to(root).as_posix())
    assert importers == {"sync_pipeline/dagster_private.py"}


def test_partition_range_tags_are_the_ones_dagster_reads_for_a_range_run():
    assert dagster_private.ASSET_PARTITION_RANGE_START_TAG == "dagster/asset_partition_range_start"
    assert dagster_private.ASSET_PARTITION_RANGE_END_TAG == "dagster/asset_partition_range_end"
    partitions = dg.StaticPartitionsDefinition(["a", "b", "c"])
    seen: list[list[str]] = []

    @dg.asset(partitions_def=partitions)
    def ranged(context: dg.AssetExecutionContext) -> None:
        seen.append(list(context.partition_keys))

    result = dg.materialize([ranged], tags=RANGE_A_TO_C)
    assert result.success
    assert seen == [["a", "b", "c"]]


def test_instance_storage_data_names_the_class_dagster_yaml_loads():
    data = dagster_private.ConfigurableClassData(
        "sync_pipeline.dagster_storage", "ProjectPostgresStorage", "{}"
    )
    assert data._fields == ("module_name", "class_name", "config_yaml")
    assert data.info_dict() == {
        "module": "sync_pipeline.dagster_storage",
        "class": "ProjectPostgresStorage",
        "config": {},
    }
    assert ProjectPostgresStorage.config_type() == {}


def test_run_worker_health_and_the_worker_pid_event_have_the_shape_the_launcher_uses():
    failed = dagster_private.CheckRunHealthResult(dagster_private.WorkerStatus.FAILED, "gone")
    assert (failed.status, failed.msg) == (dagster_private.WorkerStatus.FAILED, "gone")
    assert {"RUNNING", "FAILED"} <= {status.name for status in dagster_private.WorkerStatus}
    event = dagster_private.EngineEventData.in_process(4321)
    assert event.metadata["pid"].value == "4321"


def test_the_event_batch_size_our_instance_environment_sets_makes_dagster_batch_asset_events(
    monkeypatch, tmp_path
):
    from sync_pipeline.db.urls import DatabaseUrl
    from sync_pipeline.instance import EVENT_BATCH_VARIABLE, dagster_environment

    monkeypatch.setenv("SYNC_PIPELINE_HOME", str(tmp_path))
    monkeypatch.delenv(EVENT_BATCH_VARIABLE, raising=False)
    variables = dagster_environment(DatabaseUrl.parse("postgresql://u@localhost/db"))
    monkeypatch.setenv(EVENT_BATCH_VARIABLE, variables[EVENT_BATCH_VARIABLE])

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b", "c"]))
    def ranged(context: dg.AssetExecutionContext) -> None:
        pass

    instance = dg.DagsterInstance.ephemeral()
    batches = batch_sizes(monkeypatch, instance.event_log_storage, "store_event_batch")
    assert dg.materialize([ranged], instance=instance, tags=RANGE_A_TO_C).success
    assert 3 in batches, batches  # the range's three materializations in one write
    assert len(instance.fetch_materializations(ranged.key, limit=10).records) == 3


def test_table_metadata_set_writes_the_keys_the_ui_reads():
    schema = dg.TableSchema(columns=[dg.TableColumn("id", "bigint")])
    figures = dict(
        dagster_private.TableMetadataSet(table_name="cars", row_count=3, column_schema=schema)
    )
    assert figures == {
        "dagster/table_name": "cars",
        "dagster/row_count": 3,
        "dagster/column_schema": schema,
    }


def test_the_slot_claim_the_storage_replaces_is_the_one_dagster_calls(db_url):
    """`ProjectEventLogStorage` overrides Dagster's private `_claim_concurrency_slot`: the
    instance must use that storage, and Dagster's public claim must still go through it."""
    with persistent_instance(db_url) as instance:
        storage = instance.event_log_storage
    assert isinstance(storage, ProjectEventLogStorage)
    assert "self._claim_concurrency_slot(" in inspect.getsource(
        PostgresEventLogStorage.claim_concurrency_slot
    )
    assert {c.name for c in dagster_private.ConcurrencySlotsTable.c} >= {
        "concurrency_key",
        "run_id",
        "step_key",
        "deleted",
    }


# Dagster warns that a filter on partitions misses planned events written for a subset of
# partitions at once; these are written one per partition, which is what the test reads.
@pytest.mark.filterwarnings("ignore:Asset materialization planned events with partitions subsets")
def test_a_range_runs_planned_materializations_are_stored_in_one_write_as_dagster_reads_them(
    db_url, monkeypatch
):
    """`ProjectEventLogStorage` writes planned materializations through Dagster's private
    `prepare_insert_event_batch`, `_store_asset_event_tags` and `_store_asset_event`: what it
    stores must read back through the public API as one event per partition, with the asset's
    last run."""
    partitions = dg.StaticPartitionsDefinition(["a", "b", "c"])

    @dg.asset(partitions_def=partitions)
    def planned_upstream(context: dg.AssetExecutionContext) -> None:
        pass

    @dg.asset(partitions_def=partitions, deps=[planned_upstream])
    def planned_downstream(context: dg.AssetExecutionContext) -> None:
        pass

    with persistent_instance(db_url) as instance:
        writes = batch_sizes(
            monkeypatch, instance.event_log_storage, "_store_planned_materializations"
        )
        result = dg.materialize(
            [planned_upstream, planned_downstream], instance=instance, tags=RANGE_A_TO_C
        )
        assert result.success
        assert writes == [6]  # both assets' three partitions, in one write
        for key in (planned_upstream.key, planned_downstream.key):
            planned = instance.get_event_records(
                dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, key)
            )
            assert sorted(r.partition_key for r in planned) == ["a", "b", "c"]
            assert {r.run_id for r in planned} == {result.run_id}
            in_b = instance.get_event_records(
                dg.EventRecordsFilter(
                    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, key, asset_partitions=["b"]
                )
            )
            assert [r.partition_key for r in in_b] == ["b"]
            (record,) = instance.get_asset_records([key])
            assert record.asset_entry.last_run_id == result.run_id
            assert instance.get_latest_planned_materialization_info(key, "c").run_id == (
                result.run_id
            )
