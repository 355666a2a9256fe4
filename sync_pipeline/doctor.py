"""`sync-pipeline doctor`: what is installed, where the data goes, and what answers."""

from __future__ import annotations

import os
import platform
import shlex
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from sync_pipeline import registry
from sync_pipeline.db.connect import app_database_url, connect, dagster_database_url
from sync_pipeline.db.held_server import holder_pid
from sync_pipeline.db.migrations import status as migration_status
from sync_pipeline.db.urls import mask_password
from sync_pipeline.errors import ConfigError
from sync_pipeline.instance import dagster_environment
from sync_pipeline.settings import (
    Settings,
    database_url_from_env,
    settings_problems,
    source_env_names,
)

MASK = "***"
SECRET_QUERY_WORDS = ("token", "key", "secret", "password", "signature", "auth")
SECRET_VARIABLES = ("SYNC_DATABASE_URL",)
_PACKAGES = (
    "sync-pipeline",
    "dagster",
    "dagster-postgres",
    "dagster-webserver",
    "psycopg",
    "psycopg-pool",
    "httpx",
    "pgserver",
    "fastapi",
    "uvicorn",
)


def print_doctor_report() -> int:
    """Print everything doctor checks; 0 when all of it is sound, 1 when something is broken."""
    print("versions:")
    print(f"  python {platform.python_version()}")
    for name in _PACKAGES:
        print(f"  {name} {_version(name)}")
    problems = settings_problems()
    print_settings(problems)
    if problems:
        print("database: not checked (fix the settings above first)")
        return 1
    healthy = print_database()
    print("sources (sync_pipeline/registry.py):")
    for source in registry.SOURCES:
        print(
            f"  {source.name:<9} pool {source.pool} (limit {source.steps_at_once()}), "
            f"runs at once {source.run_limit}; {source.description}"
        )
    print("upstreams:")
    for upstream in registry.upstreams():
        line, reachable = _upstream_line(upstream)
        healthy &= reachable
        print(f"  {upstream:<9} {line}")
    return 0 if healthy else 1


def print_settings(problems: dict[str, str]) -> None:
    """Every declared setting: its value (secrets as `set`, passwords masked), or its default."""
    print("settings (sync_pipeline/settings.py):")
    for field_name, field in Settings.model_fields.items():
        name = field_name.upper()
        raw = (os.environ.get(name) or "").strip()
        if not raw:
            shown = "unset" if field.default is None else f"unset (default {field.default})"
        elif "SecretStr" in str(field.annotation):
            shown = "set (secret)"
        else:
            shown = raw
            if name in SECRET_VARIABLES:
                shown = mask_password(raw)
            elif name.endswith("_URL"):
                shown = mask_url_credentials(raw)
        problem = f"  INVALID: {problems[name]}" if name in problems else ""
        print(f"  {name:<26} {shown}{problem}")


def print_database() -> bool:
    """The database block; False when the database cannot be reached or a migration changed."""
    healthy = True
    mode = (
        "configured (SYNC_DATABASE_URL)"
        if database_url_from_env()
        else "embedded (SYNC_DATABASE_URL unset)"
    )
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
    return healthy


def _upstream_line(source: str) -> tuple[str, bool]:
    """The upstream's line, and whether it answers (an unset URL means the embedded one)."""
    url_var, token_var = source_env_names(source)
    url = os.environ.get(url_var)
    token = os.environ.get(token_var)
    token_note = f"token {'set' if token else 'not set'} ({token_var})"
    if not url:
        embedded = "embedded reference upstream (started by dev, demo, sync)"
        return f"{url_var} unset: {embedded}; {token_note}", True
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        code = httpx.get(url, headers=headers, timeout=3.0).status_code
        reach, reachable = f"reachable (HTTP {code})", True
    except httpx.HTTPError as exc:
        reach, reachable = f"NOT reachable ({type(exc).__name__})", False
    return f"{mask_url_credentials(url)} {reach}; {token_note}", reachable


def mask_url_credentials(url: str) -> str:
    """`url` with the password of its user part and the values of secret-looking query
    parameters (`token`, `api_key`, ...) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else netloc
    query = urlencode(
        [
            (name, MASK if any(word in name.lower() for word in SECRET_QUERY_WORDS) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def env_exports(variables: dict[str, str], show_secrets: bool = False) -> list[str]:
    """`export NAME=VALUE` lines, each value quoted for the shell; the database URL's password is
    masked unless `show_secrets` (the masked line then says how to get a usable one)."""
    lines = []
    for name, value in variables.items():
        shown = value if show_secrets or name not in SECRET_VARIABLES else mask_password(value)
        lines.append(f"export {name}={shlex.quote(shown)}")
        if MASK in shown and MASK not in value:
            lines.append(
                f"# {name}: password masked; `sync-pipeline doctor --env --show-secrets` prints it"
            )
    return lines


def print_env_exports(show_secrets: bool = False) -> int:
    """Shell exports so that `dg dev` / `dagster dev` run by hand use the same storage.

    The embedded server's URL is only good while the server runs, so with `SYNC_DATABASE_URL`
    unset this needs `sync-pipeline db start` first, and says so."""
    if not database_url_from_env() and holder_pid() is None:
        raise ConfigError(
            "the embedded PostgreSQL stops when this command exits; run "
            "`sync-pipeline db start` first (and `sync-pipeline db stop` when done)"
        )
    for line in env_exports(dagster_environment(app_database_url()), show_secrets):
        print(line)
    return 0


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"
