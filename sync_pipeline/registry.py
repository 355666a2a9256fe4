"""The source registry: each source is declared once, here, and everything else is derived.

A `Source` names its entity spec, pipeline and Dagster modules, its upstream API, its
Dagster concurrency pool and run-queue limit, its API resources and its CLI sync entry. From
`SOURCES` come: the resources of `definitions.py` (whose assets, checks, jobs, schedules and
sensors are loaded from `defs/` the way `dg` loads them), the choices of `sync-pipeline sync`,
the upstreams `dev`/`sync`/`doctor` start or check, the pool limits `migrate` and `dev` set on
the Dagster instance, the run-queue limits `dagster.yaml` must hold (a test compares them) and
the README's source table.

This module imports neither Dagster nor any source module at import time: modules are named
as strings and imported when asked for, so anything may import the registry without cycles.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from sync_pipeline.errors import ConfigError

UPSTREAM_TAG_KEY = "sync_pipeline/upstream"
MAX_RUNTIME_TAG_KEY = "dagster/max_runtime"
# Runs at once per upstream that dagster.yaml's general rule allows (a backstop: pools limit
# the steps); a source allowing fewer has an entry of its own there.
DEFAULT_RUN_LIMIT = 4


@dataclass(frozen=True)
class Source:
    """One synced source: what it is made of and how much of it may run at once.

    - `name`: the source, its table and its Dagster asset group (`cars`);
    - `upstream`: the API it reads (`SYNC_<UPSTREAM>_API_URL` / `_TOKEN`, reference upstream);
    - `entity`, `pipeline`, `dagster`: its three modules (entity spec, framework-free
      composition, Dagster package under `defs/`);
    - `cli_sync`: `"module:attribute"` of the `SourceSync` that `sync-pipeline sync` runs;
    - `pool`, `pool_limit`: the Dagster concurrency pool of its sync step and the steps of that
      pool allowed at once across all runs (backfills and UI clicks included);
    - `pool_limit_env`: a setting that, when set, replaces `pool_limit` (pvp: `PVP_SYNC_THREADS`,
      the leaderboards synced at once);
    - `run_limit`: runs at once carrying the tag `sync_pipeline/upstream=<upstream>` (the
      run-queue backstop in `dagster.yaml`: `DEFAULT_RUN_LIMIT` needs no entry there);
    - `max_runtime_s`: a run of one of its jobs still going after this long is canceled by run
      monitoring (which frees its pool slot); runs of the implicit asset job (backfills,
      Materialize clicks) get `run_monitoring: max_runtime_seconds` from `dagster.yaml`;
    - `owners`, `code_version`: on every asset of the source (bump the code version when what
      the sync stores changes, so the UI tells the assets written by older code apart);
    - `api_resources`: `"module:function"` returning its API resources by key; empty means one
      `UpstreamApiResource` named `<name>_api` with `api_rps` and `api_concurrency`.
    """

    name: str
    upstream: str
    entity: str
    pipeline: str
    dagster: str
    cli_sync: str
    pool: str
    pool_limit: int
    run_limit: int
    migration: str
    description: str
    api_resources: str = ""
    api_rps: float = 20.0
    api_concurrency: int = 16
    pool_limit_env: str = ""

    def steps_at_once(self) -> int:
        """The pool's limit: `pool_limit_env` when set (validated), else `pool_limit`."""
        if not self.pool_limit_env:
            return self.pool_limit
        from sync_pipeline.settings import positive_int_env

        return positive_int_env(self.pool_limit_env, self.pool_limit)

    max_runtime_s: int = 3600
    owners: tuple[str, ...] = ("team:data-sync",)
    code_version: str = "1"

    @property
    def run_tags(self) -> dict[str, str]:
        """Tags every run of this source carries (the run queue limits on them)."""
        return {UPSTREAM_TAG_KEY: self.upstream}

    @property
    def job_tags(self) -> dict[str, str]:
        """Tags of the source's jobs: the run tags and the maximum runtime."""
        return {**self.run_tags, MAX_RUNTIME_TAG_KEY: str(self.max_runtime_s)}

    def source_sync(self) -> Any:
        """The `SourceSync` the CLI runs (imports the Dagster module)."""
        return load_object(self.cli_sync)

    def resources(self) -> dict[str, Any]:
        """The source's API resources, keyed as its assets and sensors ask for them."""
        if self.api_resources:
            return load_object(self.api_resources)()
        from sync_pipeline.defs.resources import UpstreamApiResource

        api = UpstreamApiResource(
            source=self.upstream, default_rps=self.api_rps, default_concurrency=self.api_concurrency
        )
        return {f"{self.name}_api": api}


SOURCES: tuple[Source, ...] = (
    Source(
        name="cars",
        upstream="cars",
        entity="sync_pipeline.entities.cars",
        pipeline="sync_pipeline.pipelines.cars",
        dagster="sync_pipeline.defs.cars",
        cli_sync="sync_pipeline.defs.cars.jobs:CARS_SOURCE_SYNC",
        pool="cars_api",
        pool_limit=1,
        run_limit=1,
        migration="003_cars.sql",
        description="car listings: daily updated_at partitions, hourly and nightly full refresh",
        api_rps=20.0,
        api_concurrency=16,
    ),
    Source(
        name="users",
        upstream="users",
        entity="sync_pipeline.entities.users",
        pipeline="sync_pipeline.pipelines.users",
        dagster="sync_pipeline.defs.users",
        cli_sync="sync_pipeline.defs.users.jobs:USERS_SOURCE_SYNC",
        pool="users_api",
        pool_limit=4,
        run_limit=4,
        migration="004_users.sql",
        description="users: change-detector sensor and worker runs, daily reconcile partitions",
        api_resources="sync_pipeline.defs.users.resources:users_api_resources",
        max_runtime_s=4 * 3600,
    ),
    Source(
        name="pvp",
        upstream="pvp",
        entity="sync_pipeline.entities.pvp",
        pipeline="sync_pipeline.pipelines.pvp",
        dagster="sync_pipeline.defs.pvp",
        cli_sync="sync_pipeline.defs.pvp.jobs:PVP_SOURCE_SYNC",
        pool="pvp_api",
        pool_limit=4,
        pool_limit_env="PVP_SYNC_THREADS",
        run_limit=4,
        migration="008_pvp.sql",
        description="pvp leaderboards: region x bracket partitions, characters, "
        "equipment when it can have changed",
        api_resources="sync_pipeline.defs.pvp.resources:pvp_api_resources",
    ),
    Source(
        name="contacts",
        upstream="contacts",
        entity="sync_pipeline.entities.contacts",
        pipeline="sync_pipeline.pipelines.contacts",
        dagster="sync_pipeline.defs.contacts",
        cli_sync="sync_pipeline.defs.contacts.jobs:CONTACTS_SOURCE_SYNC",
        pool="contacts_api",
        pool_limit=2,
        run_limit=2,
        migration="009_contacts.sql",
        description="CRM contacts: one partition per workspace, field-change triggers, "
        "webhook queue",
        api_rps=10.0,
        api_concurrency=4,
    ),
    Source(
        name="stores",
        upstream="stores",
        entity="sync_pipeline.entities.stores",
        pipeline="sync_pipeline.pipelines.stores",
        dagster="sync_pipeline.defs.stores",
        cli_sync="sync_pipeline.defs.stores.jobs:STORES_SOURCE_SYNC",
        pool="stores_api",
        pool_limit=2,
        run_limit=2,
        migration="007_stores.sql",
        description="stores: one dynamic partition per store, "
        "users and videos of many stores at once",
        api_resources="sync_pipeline.defs.stores.resources:stores_api_resources",
        max_runtime_s=2 * 3600,
    ),
)


def source(name: str) -> Source:
    """The registered source called `name`; `ConfigError` listing the others if none."""
    for candidate in SOURCES:
        if candidate.name == name:
            return candidate
    raise ConfigError(f"source {name!r} is not registered; available: {', '.join(source_names())}")


def source_names() -> list[str]:
    return [s.name for s in SOURCES]


def upstreams() -> list[str]:
    """The upstream APIs the registered sources read, each once, in registry order."""
    return list(dict.fromkeys(s.upstream for s in SOURCES))


def pool_limits() -> dict[str, int]:
    """Dagster concurrency pool -> steps allowed at once (set on the instance by migrate/dev)."""
    return {s.pool: s.steps_at_once() for s in SOURCES}


def run_tag_limits() -> list[dict[str, Any]]:
    """The `concurrency: runs: tag_concurrency_limits` entries `dagster.yaml` must hold: one rule
    for every upstream (`DEFAULT_RUN_LIMIT` runs each, a new source included, with nothing to
    add), then one entry per upstream whose sources allow fewer runs. A `run_limit` above the
    default cannot be honoured (the general rule also applies) and raises `ConfigError`."""
    limits = {s.upstream: s.run_limit for s in SOURCES}
    above = [
        f"{upstream} ({limit})" for upstream, limit in limits.items() if limit > DEFAULT_RUN_LIMIT
    ]
    if above:
        raise ConfigError(
            f"run_limit above {DEFAULT_RUN_LIMIT} for {', '.join(above)}; raise "
            "DEFAULT_RUN_LIMIT and the general rule in dagster.yaml instead"
        )
    general = {
        "key": UPSTREAM_TAG_KEY,
        "value": {"applyLimitPerUniqueValue": True},
        "limit": DEFAULT_RUN_LIMIT,
    }
    return [general] + [
        {"key": UPSTREAM_TAG_KEY, "value": upstream, "limit": limit}
        for upstream, limit in limits.items()
        if limit < DEFAULT_RUN_LIMIT
    ]


def load_object(target: str) -> Any:
    """`"package.module:attribute"` imported and returned."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
