"""The source registry: one entry per source, from which definitions, CLI and limits derive."""

import ast
import importlib
from pathlib import Path

import dagster as dg
import pytest
import yaml

from sync_pipeline import registry
from sync_pipeline.cli import build_parser
from sync_pipeline.definitions import defs
from sync_pipeline.defs_folder import source_packages_mismatch
from sync_pipeline.errors import ConfigError
from sync_pipeline.settings import project_root


@pytest.mark.parametrize("source", registry.SOURCES, ids=lambda s: s.name)
def test_every_registered_source_has_its_modules_and_migration(source):
    for module in (source.entity, source.pipeline, source.dagster):
        importlib.import_module(module)
    assert source.source_sync().upstream == source.upstream
    assert (project_root() / "sql" / source.migration).exists()


@pytest.mark.parametrize("source", registry.SOURCES, ids=lambda s: s.name)
def test_definitions_hold_each_source_group_in_its_pool_with_its_resources(source):
    asset_graph = defs.resolve_asset_graph()
    group = [
        key
        for key in asset_graph.get_all_asset_keys()
        if asset_graph.get(key).group_name == source.name
    ]
    assert group, f"no assets in group {source.name}"
    pools = {asset_graph.get(key).assets_def.node_def.pool for key in group}
    assert pools == {source.pool}
    assert set(source.resources()) <= set(defs.resources)


def _job_outline(job: dg.JobDefinition) -> tuple:
    layer = job.asset_layer
    return (
        sorted(layer.executable_asset_keys),
        sorted(layer.asset_graph.asset_check_keys),
        sorted(node.name for node in job.nodes),
        job.tags,
        job.partitions_def,
        job.op_retry_policy,
    )


@pytest.mark.parametrize("source", registry.SOURCES, ids=lambda s: s.name)
def test_the_cli_runs_the_code_location_s_job_from_the_source_s_package_alone(source):
    spec = source.source_sync()
    assert spec.source == source.name
    loaded_alone, in_location = spec.job(), defs.resolve_job_def(spec.job_name)
    assert _job_outline(loaded_alone) == _job_outline(in_location)
    # Every resource of the location but the alert sensors' Slack, which no step uses.
    assert set(loaded_alone.resource_defs) == set(in_location.resource_defs) - {"slack"}
    for name in set(loaded_alone.resource_defs) - {"io_manager"}:
        assert type(loaded_alone.resource_defs[name]) is type(in_location.resource_defs[name])


def test_sync_choices_are_the_registered_sources():
    sync = build_parser()._subparsers._group_actions[0].choices["sync"]
    source_action = next(a for a in sync._actions if a.dest == "source")
    assert list(source_action.choices) == registry.source_names()


def test_unknown_source_names_the_registered_ones():
    with pytest.raises(ConfigError, match="'weather' is not registered; available: cars, users"):
        registry.source("weather")


def test_every_defs_package_is_registered():
    assert source_packages_mismatch() == ""


def test_dagster_yaml_run_limits_are_the_registry_run_limits():
    config = yaml.safe_load((project_root() / "dagster.yaml").read_text())
    in_yaml = config["concurrency"]["runs"]["tag_concurrency_limits"]
    expected = registry.run_tag_limits()
    hint = yaml.safe_dump(expected, sort_keys=False)
    assert in_yaml == expected, f"dagster.yaml tag_concurrency_limits must be:\n{hint}"


def test_every_definition_in_a_defs_module_is_loaded():
    """Whatever a module under defs/ defines at top level (a file `dg scaffold defs` wrote
    included) is in the definitions, without being listed anywhere."""
    defs_root = project_root() / "sync_pipeline" / "defs"
    kinds = (
        dg.AssetsDefinition,
        dg.ScheduleDefinition,
        dg.SensorDefinition,
        dg.AssetChecksDefinition,
    )
    found = {}
    for path in defs_root.rglob("*.py"):
        module = importlib.import_module(_module_name(path, defs_root.parent))
        found.update({id(v): v for v in vars(module).values() if isinstance(v, kinds)})
    loaded = [*defs.assets, *defs.schedules, *defs.sensors, *(defs.asset_checks or [])]
    assert found and all(any(obj is other for other in loaded) for obj in found.values())


def test_no_module_level_import_cycles():
    """Module-level imports inside `sync_pipeline` form no cycle (sources -> definitions ->
    jobs -> sources was one)."""
    package = project_root() / "sync_pipeline"
    graph = {_module_name(path, package): _imports(path) for path in package.rglob("*.py")}
    cycle = _find_cycle({m: {i for i in deps if i in graph} for m, deps in graph.items()})
    assert cycle == [], " -> ".join(cycle)


def _module_name(path: Path, package: Path) -> str:
    parts = ["sync_pipeline", *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules imported at module level (not inside functions, not under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = 1
        stack.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[module] = 2
        stack.pop()
        return []

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return []


def test_dagster_yaml_limits_pools_per_step_and_retries_only_crashed_runs():
    config = yaml.safe_load((project_root() / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"] == {"granularity": "op", "default_limit": 1}
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False
    assert config["run_retries"]["max_retries"] >= 1
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_monitoring"]["max_runtime_seconds"] >= max(
        s.max_runtime_s for s in registry.SOURCES
    )


@pytest.mark.parametrize("source", registry.SOURCES, ids=lambda s: s.name)
def test_every_job_of_a_source_has_its_run_tags_and_max_runtime(source):
    group_keys = {
        key
        for key in defs.resolve_asset_graph().get_all_asset_keys()
        if defs.resolve_asset_graph().get(key).group_name == source.name
    }
    jobs = [
        job
        for job in defs.resolve_all_job_defs()
        if not job.name.startswith("__") and job.asset_layer.selected_asset_keys & group_keys
    ]
    assert jobs
    for job in jobs:
        assert job.tags.get("dagster/max_runtime") == str(source.max_runtime_s), job.name
        assert job.tags.get(registry.UPSTREAM_TAG_KEY) == source.upstream, job.name


def test_every_asset_has_owners_a_code_version_and_a_description():
    graph = defs.resolve_asset_graph()
    missing = [
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if not (
            graph.get(key).owners and graph.get(key).code_version and graph.get(key).description
        )
    ]
    assert missing == []


@pytest.mark.parametrize("source", registry.SOURCES, ids=lambda s: s.name)
def test_every_table_asset_of_a_source_shows_its_column_schema(source):
    graph = defs.resolve_asset_graph()
    tables = [
        graph.get(key)
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name == source.name and "postgres" in graph.get(key).kinds
    ]
    assert tables
    with_schema = [node for node in tables if "dagster/column_schema" in node.metadata]
    assert with_schema, f"no table asset of {source.name} shows its column schema"
