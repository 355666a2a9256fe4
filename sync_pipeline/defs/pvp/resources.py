"""The pvp API client: the leaderboards and the equipment share one limit per API key.

`PVP_RPS` is the limit (default 100 requests/s, the reference `seed` profile's),
`PVP_PROCESSING_THREADS` the equipment calls in flight (default 32: 100 requests/s at up to
300 ms each), `PVP_HEADROOM` how far under the limit to pace (default 1%: the server's bucket
holds 100 requests, so 1 request/s of slack absorbs any jitter). The shared PostgreSQL bucket
holds every run of every partition to that one limit.
"""

from dataclasses import replace

from pydantic import Field

from sync_pipeline.defs.resources import UpstreamApiResource
from sync_pipeline.engine.http import ClientConfig
from sync_pipeline.pipelines.pvp.settings import DEFAULT_PROCESSING_THREADS
from sync_pipeline.settings import env_number, positive_int_env

DEFAULT_RPS = 100.0
DEFAULT_HEADROOM = 0.01


class PvpApiResource(UpstreamApiResource):
    """The pvp API (leaderboards and equipment), paced under `PVP_RPS`."""

    rate_headroom: float | None = Field(
        default=None,
        description="Pace this share under the limit. Default: PVP_HEADROOM, else 0.01.",
    )

    def client_config(self) -> ClientConfig:
        base = super().client_config()
        headroom = self.rate_headroom
        if headroom is None:
            headroom = env_number("PVP_HEADROOM", DEFAULT_HEADROOM)
        return replace(
            base,
            rate_headroom=headroom,
            rps=self.rps or env_number("PVP_RPS", self.default_rps),
            concurrency=int(
                self.concurrency
                or positive_int_env("PVP_PROCESSING_THREADS", self.default_concurrency)
            ),
        )


def pvp_api_resources() -> dict[str, PvpApiResource]:
    return {
        "pvp_api": PvpApiResource(
            source="pvp", default_rps=DEFAULT_RPS, default_concurrency=DEFAULT_PROCESSING_THREADS
        )
    }
