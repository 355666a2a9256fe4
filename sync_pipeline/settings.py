"""Every environment setting of the project, declared once and validated when read.

`Settings` lists each variable with its type and constraint; `settings()` reads the environment
afresh on every call (never at import time, so tests and Dagster processes can set it first)
and turns a bad value into one `ConfigError` line naming the variable and the value. Names are
a public interface (see README): `SYNC_DATABASE_URL`, `SYNC_<SOURCE>_API_URL`,
`SYNC_<SOURCE>_API_TOKEN`, `DB_POOL_SIZE`, ... A new knob is a new field here, nowhere else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from sync_pipeline import registry
from sync_pipeline.errors import ConfigError

# The upstream APIs the registered sources read (`SYNC_<UPSTREAM>_API_URL` / `_TOKEN`): taken
# from `registry.py`, so a new source's variables are accepted without a list to extend here.
SOURCES = tuple(registry.upstreams())
DEFAULT_POOL_SIZE = 20

PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Headroom = Annotated[float, Field(ge=0, lt=0.5)]


class Settings(BaseSettings):
    """The project's environment variables (names are the upper-cased field names).

    Unset or empty variables take the default shown; `None` means "the consumer's default"
    (e.g. `RPS` is 20 requests/s for the cars API when unset).
    """

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)

    sync_database_url: str | None = None
    sync_dagster_database: Annotated[str, Field(min_length=1, max_length=63)] = "dagster"
    sync_pipeline_home: Path | None = None
    db_pool_size: PositiveInt = DEFAULT_POOL_SIZE
    # cars API client and write path
    rps: PositiveFloat | None = None
    concurrency: PositiveInt | None = None
    page_size: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    parallel_batches: PositiveInt | None = None
    # users: detector, worker and the two API limits
    users_batch: PositiveInt | None = None
    users_page_size: PositiveInt | None = None
    users_write_batch: PositiveInt | None = None
    users_detector_max_pages: PositiveInt | None = None
    users_detector_overlap_s: NonNegativeFloat | None = None
    users_list_rps: PositiveFloat | None = None
    users_list_concurrency: PositiveInt | None = None
    users_list_headroom: Headroom | None = None
    users_detail_rps: PositiveFloat | None = None
    users_detail_concurrency: PositiveInt | None = None
    users_detail_headroom: Headroom | None = None
    # users: detail backfill and bookkeeping retention
    users_backfill_run: PositiveInt | None = None
    users_backfill_stall_s: NonNegativeFloat | None = None
    users_retention_days: PositiveInt | None = None
    # pvp: boards at once, equipment calls in flight, the API limit, equipment refresh age
    pvp_sync_threads: PositiveInt | None = None
    pvp_processing_threads: PositiveInt | None = None
    pvp_rps: PositiveFloat | None = None
    pvp_headroom: Headroom | None = None
    pvp_equipment_max_age: str | None = None
    # stores: stores fetching users / videos at once, the per-app limit of the stores API
    sync_concurrency: PositiveInt | None = None
    video_sync_concurrency: PositiveInt | None = None
    stores_rps: PositiveFloat | None = None
    # scaling out: the Celery broker of the distributed job variant and its workers
    sync_celery_broker_url: str | None = None
    sync_celery_visibility_timeout: PositiveFloat | None = None
    # alerts
    sync_dagster_base_url: str = "http://127.0.0.1:3000"
    slack_bot_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    slack_warn_checks: str | None = None


def settings() -> Settings:
    """The environment's settings, validated now; raises `ConfigError` on the first bad value."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def settings_problems() -> dict[str, str]:
    """Every invalid variable with its one-line message (`doctor` shows them all at once)."""
    try:
        Settings()
    except ValidationError as exc:
        return {_variable(error): _error_line(error) for error in exc.errors()}
    return {}


def setting(name: str, default: Any = None) -> Any:
    """One declared setting by its variable name (`"BATCH_SIZE"`), `default` when it is None."""
    field = name.lower()
    if field not in Settings.model_fields:
        raise KeyError(f"{name} is not declared in sync_pipeline/settings.py")
    value = getattr(settings(), field)
    return default if value is None else value


def positive_int_env(name: str, default: int) -> int:
    """A declared whole-number setting (>= 1), or `default` when unset; raises `ConfigError`."""
    return int(setting(name, default))


def env_number(name: str, default: float) -> float:
    """A declared numeric setting, or `default` when unset; raises `ConfigError`."""
    return float(setting(name, default))


def project_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    candidate = Path(__file__).resolve().parents[1]
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


def state_dir() -> Path:
    """Project-local, gitignored folder for the embedded database and Dagster artifacts."""
    override = settings().sync_pipeline_home
    path = override if override else project_root() / ".sync_pipeline"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url_from_env() -> str | None:
    """`SYNC_DATABASE_URL`, or None when unset or empty (then the embedded server is used)."""
    return settings().sync_database_url


def pool_size() -> int:
    return settings().db_pool_size


def source_env_names(source: str) -> tuple[str, str]:
    """(URL variable, token variable) for one upstream API."""
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    prefix = f"SYNC_{source.upper()}_API"
    return f"{prefix}_URL", f"{prefix}_TOKEN"


def _one_line(exc: ValidationError) -> str:
    """`NAME must be ..., got 'raw'` for the first invalid variable."""
    return _error_line(exc.errors()[0])


def _variable(error: Any) -> str:
    return str(error["loc"][0]).upper() if error["loc"] else "setting"


def _error_line(error: Any) -> str:
    """`NAME must be ..., got 'raw'` for one validation error."""
    name = _variable(error)
    raw = os.environ.get(name, os.environ.get(name.lower(), error.get("input")))
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("int_parsing", "int_from_float"):
        return f"{name} must be a whole number, got {raw!r}"
    if kind == "float_parsing":
        return f"{name} must be a number, got {raw!r}"
    if kind == "greater_than_equal" and ctx.get("ge") == 1:
        return f"{name} must be at least 1, got {raw}"
    if kind.startswith(("greater_than", "less_than")):
        return f"{name} {error['msg'].lower().replace('input should', 'must')}, got {raw}"
    return f"{name} is invalid ({error['msg']}), got {raw!r}"
