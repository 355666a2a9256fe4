"""docs/upstream-api.md stays in step with the reference upstream: every route it documents is
served, and every API route served (the OpenAPI document) is documented. The reference service
may serve admin helpers (`/_admin/...`) beyond the ones the contract lists."""

import re

import httpx

from sync_pipeline import registry
from sync_pipeline.settings import SOURCES, project_root

DOC = project_root() / "docs" / "upstream-api.md"
README = project_root() / "README.md"
ROUTE = re.compile(r"`(GET|POST) (/[^`?\s]*)")


def normalized(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/"))


def documented_routes() -> set[tuple[str, str]]:
    return {(method, normalized(path)) for method, path in ROUTE.findall(DOC.read_text())}


def served_routes(base_url: str) -> set[tuple[str, str]]:
    paths = httpx.get(f"{base_url}/openapi.json", timeout=10).json()["paths"]
    return {(method.upper(), normalized(path)) for path, ops in paths.items() for method in ops}


def test_the_readme_points_at_the_contract_in_the_repository():
    readme = README.read_text()
    assert "docs/upstream-api.md" in readme
    assert "../shared/" not in readme


def test_every_documented_route_is_served_and_every_served_route_documented(upstream):
    documented, served = documented_routes(), served_routes(upstream.url)
    assert len(documented) >= 10
    assert documented - served == set(), "documented but not served"
    api_served = {(method, path) for method, path in served if not path.startswith("/_admin")}
    assert api_served - documented == set(), "served but not documented"


def readme_source_status() -> dict[str, str]:
    """source -> status, from the README's table of sources."""
    rows = re.findall(r"^\| (\w+) \| \d\. `/\w+` \| ([^|]+) \|$", README.read_text(), re.MULTILINE)
    return {name: status.strip() for name, status in rows}


def test_the_readme_table_of_sources_tells_which_are_available():
    status = readme_source_status()
    assert set(status) == set(SOURCES), "one row per upstream API of the contract"
    registered = set(registry.source_names())
    wrong = {
        name: text
        for name, text in status.items()
        if text.startswith("available") != (name in registered)
    }
    assert wrong == {}, "README: mark registered sources `available`, the others `not yet`"
