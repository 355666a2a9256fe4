"""`sync-pipeline doctor`: what is installed, where the data goes, and what answers."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version

import httpx

from sync_pipeline.db.connect import app_database_url, connect, dagster_database_url
from sync_pipeline.db.migrations import status as migration_status
from sync_pipeline.errors import ConfigError
from sync_pipeline.instance import dagster_environment
from sync_pipeline.settings import SOURCES, database_url_from_env, source_env_names

_PACKAGES = ("sync-pipeline", "dagster", "dagster-postgres", "dagster-webserver", "psycopg", "psycopg-pool",
             "httpx", "pgserver", "fastapi", "uvicorn")


def print_doctor_report() -> int:
    healthy = True
    print("versions:")
    print(f"  python {platform.python_version()}")
    for name in _PACKAGES:
        print(f"  {name} {_version(name)}")

    mode = "configured (SYNC_DATABASE_URL)" if database_url_from_env() else "embedded (SYNC_DATABASE_URL unset)"
    print(f"database: {mode}")
    try:
        url = app_database_url()
        with connect(url) as conn:
            server = conn.execute("SHOW server_version").fetchone()[0]
        print(f"  url {url.masked()}")
        print(f"  server PostgreSQL {server}")
        print(f"  dagster storage {dagster_database_url(url).masked()}")
        print("migrations:")
        for state in migration_status(url):
            healthy &= state.status != "CHANGED"
            print(f"  {state.migration.filename:<40} {state.status}")
    except ConfigError as exc:
        healthy = False
        print(f"  error: {exc}")

    print("upstreams:")
    for source in SOURCES:
        print(f"  {source:<9} {_upstream_line(source)}")
    return 0 if healthy else 1


def _upstream_line(source: str) -> str:
    url_var, token_var = source_env_names(source)
    url = os.environ.get(url_var)
    token = os.environ.get(token_var)
    token_note = f"token {'set' if token else 'not set'} ({token_var})"
    if not url:
        return f"{url_var} unset: embedded reference upstream (started by dev, demo, sync); {token_note}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        code = httpx.get(url, headers=headers, timeout=3.0).status_code
        reach = f"reachable (HTTP {code})"
    except httpx.HTTPError as exc:
        reach = f"NOT reachable ({type(exc).__name__})"
    return f"{url} {reach}; {token_note}"


def print_env_exports() -> int:
    """Shell exports so that `dg dev` / `dagster dev` run by hand use the same storage."""
    for key, value in dagster_environment(app_database_url()).items():
        print(f"export {key}='{value}'")
    return 0


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"
