"""The stores API client: one per-app limit (`STORES_RPS`, default 10 requests/s, the reference
`seed` profile's) covers the store list and every store's users and videos, shared through
PostgreSQL by every run and process using the same token."""

from __future__ import annotations

from sync_pipeline.defs.resources import UpstreamApiResource
from sync_pipeline.engine.http import ClientConfig
from sync_pipeline.pipelines.stores.settings import (
    DEFAULT_RPS,
    StoresSyncSettings,
    stores_client_config,
)
from sync_pipeline.settings import env_number


class StoresApiResource(UpstreamApiResource):
    """The stores API, paced 1% under `STORES_RPS` with a request in flight per store at work."""

    def stores_config(self, settings: StoresSyncSettings) -> ClientConfig:
        """The client config for a run working on `settings.users_concurrency` +
        `settings.videos_concurrency` stores at once."""
        base = self.client_config()
        rps = self.rps or env_number("STORES_RPS", self.default_rps)
        return stores_client_config(
            base.base_url, base.token, settings, rps=rps, shared=self.share_rate_limit
        )


def stores_api_resources() -> dict[str, StoresApiResource]:
    return {"stores_api": StoresApiResource(source="stores", default_rps=DEFAULT_RPS)}
