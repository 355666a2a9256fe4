"""pyproject.toml declares what the code imports, and nothing it does not use."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from sync_pipeline.settings import project_root

ROOT = project_root()
# Imported only inside the benchmark's own dlt virtualenv (`bench/dlt_runner.py`), never here.
OTHER_ENVIRONMENT = {"dlt"}
# Declared but not imported, each for a stated reason (the comments in pyproject.toml).
USED_WITHOUT_IMPORT = {
    "dagster-webserver",  # `dagster dev`, started by `sync-pipeline dev`
    "dagster-dg-cli",  # `dg`, run by test_definitions.py and by users
    "psycopg2-binary",  # the driver of the postgresql+psycopg2 URL dagster-postgres is given
    "sniffio",  # httpcore imports it on every async request; a failed import costs ~1 ms
    "pytest-timeout",  # a pytest plugin (`timeout` in [tool.pytest.ini_options])
    "pytest-xdist",  # a pytest plugin (`-n 3 --dist loadfile` in [tool.pytest.ini_options])
    "ruff",  # the linter `.ci/run` runs
    "celery",  # extra celery: `celery[redis]` brings Redis to kombu; dagster-celery imports it
}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], set[str], set[str]]:
    """Runtime dependencies, the `dev` extra, and the other extras (optional features whose
    modules import them only when installed, e.g. `celery`)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    optional = project["optional-dependencies"]
    dev = {_name(r) for r in optional["dev"]}
    extras = {_name(r) for name, reqs in optional.items() if name != "dev" for r in reqs}
    return runtime, dev, extras


def _imported(folder: Path) -> set[str]:
    """Top-level third-party modules imported anywhere under `folder`."""
    modules: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    own = {"sync_pipeline", "sync_pipeline_tests"}
    return {m for m in modules if m not in sys.stdlib_module_names and m not in own}


def _distributions(modules: set[str]) -> dict[str, set[str]]:
    """{module: the installed distributions that provide it}; a module not installed here (a
    venv older than pyproject.toml) is taken to come from the distribution of its own name."""
    provided = packages_distributions()
    return {m: {_name(d) for d in provided.get(m, [m])} for m in modules}


def test_every_imported_package_is_declared():
    runtime, dev, extras = _declared()
    package = _distributions(_imported(ROOT / "sync_pipeline") - OTHER_ENVIRONMENT)
    tests = _distributions(_imported(ROOT / "sync_pipeline_tests"))
    undeclared = {m: d for m, d in package.items() if not d & (runtime | extras)}
    assert undeclared == {}, f"imported by sync_pipeline, not in dependencies: {undeclared}"
    undeclared = {m: d for m, d in tests.items() if not d & (runtime | dev | extras)}
    assert undeclared == {}, (
        f"imported by the tests, not in dependencies, dev or an extra: {undeclared}"
    )


def test_every_declared_package_is_used():
    runtime, dev, extras = _declared()
    imported = set().union(
        *_distributions(_imported(ROOT / "sync_pipeline")).values(),
        *_distributions(_imported(ROOT / "sync_pipeline_tests")).values(),
    )
    unused = (runtime | dev | extras) - imported - USED_WITHOUT_IMPORT
    assert unused == set(), f"declared in pyproject.toml but imported nowhere: {unused}"
