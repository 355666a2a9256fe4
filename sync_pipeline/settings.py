"""Process-wide settings read from the environment.

Names here are a public interface (see README): `SYNC_DATABASE_URL`, `SYNC_<SOURCE>_API_URL`,
`SYNC_<SOURCE>_API_TOKEN`, `DB_POOL_SIZE`. Everything is read lazily, when asked for, never at
import time, so tests and Dagster processes can set the environment before using it.
"""

from __future__ import annotations

import os
from pathlib import Path

from sync_pipeline.errors import ConfigError

SOURCES = ("cars", "users", "stores", "pvp", "contacts")
DEFAULT_POOL_SIZE = 20


def project_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    candidate = Path(__file__).resolve().parents[1]
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


def state_dir() -> Path:
    """Project-local, gitignored folder for the embedded database and Dagster artifacts."""
    override = os.environ.get("SYNC_PIPELINE_HOME")
    path = Path(override) if override else project_root() / ".sync_pipeline"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url_from_env() -> str | None:
    """`SYNC_DATABASE_URL`, or None when unset or empty (then the embedded server is used)."""
    return os.environ.get("SYNC_DATABASE_URL") or None


def pool_size() -> int:
    return positive_int_env("DB_POOL_SIZE", DEFAULT_POOL_SIZE)


def positive_int_env(name: str, default: int) -> int:
    """A whole number >= 1 from the environment variable `name`, or `default` when unset.

    Raises `ConfigError` naming the variable and the bad value.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def source_env_names(source: str) -> tuple[str, str]:
    """(URL variable, token variable) for one upstream source."""
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    prefix = f"SYNC_{source.upper()}_API"
    return f"{prefix}_URL", f"{prefix}_TOKEN"
