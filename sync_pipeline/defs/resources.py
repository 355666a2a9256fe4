"""Resources shared by every source: the pooled PostgreSQL and one rate-limited API client per
upstream.

Settings that may be absent are read when the resource is first used, never at import time:
the API URL and token with `dg.EnvVar(...).get_value()`, the knobs (`DB_POOL_SIZE`, `RPS`, ...)
through the one validated reader in `settings.py`. The token is never stored in run config, so it
cannot show up in the launchpad or in event logs. Every knob can still be set per run in the
launchpad (resource config).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from psycopg_pool import ConnectionPool
from pydantic import Field, PrivateAttr

from sync_pipeline import registry
from sync_pipeline.db.connect import app_database_url
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.engine.http import ApiClient, ClientConfig, Secret, shared_key_for
from sync_pipeline.errors import ConfigError
from sync_pipeline.settings import env_number, pool_size, source_env_names


class PostgresResource(dg.ConfigurableResource):
    """The synced-data PostgreSQL as a pool of psycopg 3 connections.

    The URL is `SYNC_DATABASE_URL`, or the embedded server when that is unset; the pool holds
    up to `DB_POOL_SIZE` (default 20) connections unless `pool_size` is set for the run.
    """

    pool_size: int | None = Field(default=None, description="Overrides DB_POOL_SIZE for this run.")

    _pool: ConnectionPool | None = PrivateAttr(default=None)
    _url: DatabaseUrl | None = PrivateAttr(default=None)

    def url(self) -> DatabaseUrl:
        if self._url is None:
            self._url = app_database_url()
        return self._url

    def pool(self) -> ConnectionPool:
        if self._pool is None:
            self._pool = open_pool(self.url(), max_size=self.pool_size or pool_size())
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; committed on success, rolled back on error."""
        with self.pool().connection() as conn:
            yield conn

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class UpstreamApiResource(dg.ConfigurableResource):
    """One upstream API: base URL, bearer token, rate limit and concurrency.

    Unset fields fall back to the environment: `SYNC_<SOURCE>_API_URL`, `SYNC_<SOURCE>_API_TOKEN`
    (never configurable here), `RPS` and `CONCURRENCY`, then the source's defaults. With
    `share_rate_limit`, every run and process using the same API key draws from one
    PostgreSQL-backed token bucket, so a backfill and a sensor together stay under the limit.
    """

    source: str
    base_url: str | None = Field(default=None, description="Default: SYNC_<SOURCE>_API_URL.")
    rps: float | None = Field(
        default=None,
        description="Requests per second allowed for the token. Default: RPS, else the source's.",
    )
    concurrency: int | None = Field(
        default=None, description="Requests in flight. Default: CONCURRENCY, else the source's."
    )
    default_rps: float = 20.0
    default_concurrency: int = 16
    burst: int = 1
    share_rate_limit: bool = True
    max_attempts: int = 8
    breaker_threshold: int = 10
    breaker_open_s: float = 60.0

    def client_config(self) -> ClientConfig:
        url_var, token_var = source_env_names(self.source)
        base_url = self.base_url or dg.EnvVar(url_var).get_value()
        if not base_url:
            raise ConfigError(
                f"{url_var} is not set; point it at the {self.source} API "
                "(`sync-pipeline dev`, `demo` and `sync` start the reference upstream when it "
                "is unset)"
            )
        raw_token = dg.EnvVar(token_var).get_value()
        token = Secret(raw_token) if raw_token else None
        return ClientConfig(
            base_url=base_url,
            token=token,
            name=self.source,
            rps=self.rps or env_number("RPS", self.default_rps),
            burst=self.burst,
            concurrency=int(
                self.concurrency or env_number("CONCURRENCY", self.default_concurrency)
            ),
            max_attempts=self.max_attempts,
            breaker_threshold=self.breaker_threshold,
            breaker_open_s=self.breaker_open_s,
            shared_limiter_key=shared_key_for(self.source, token)
            if self.share_rate_limit
            else None,
        )

    def client(
        self, postgres: PostgresResource, config: ClientConfig | None = None, **client_kwargs
    ) -> ApiClient:
        """A new `ApiClient` (use `async with`); the shared bucket lives in `postgres`."""
        config = config or self.client_config()
        return ApiClient(config, limiter_conninfo=postgres.url().conninfo(), **client_kwargs)


def shared_resources() -> dict[str, dg.ConfigurableResource]:
    """The pooled database and every registered source's API resources."""
    resources: dict[str, dg.ConfigurableResource] = {"postgres": PostgresResource()}
    for source in registry.SOURCES:
        resources.update(source.resources())
    return resources
