"""The users API as two clients, one per limit: the cheap list and the slow, tightly limited detail.

Each endpoint keeps its own shared (PostgreSQL) token bucket, keyed `users.list:<token digest>`
and `users.detail:<token digest>`, so the detector's list pages never eat into the detail
budget that every concurrent worker run draws from. Knobs come from `USERS_<ENDPOINT>_RPS`,
`USERS_<ENDPOINT>_CONCURRENCY` and `USERS_<ENDPOINT>_HEADROOM` (not the global `RPS` and
`CONCURRENCY`, which are the cars API's), read when the client is built, never at import.

The detail default paces at 1% under the limit rather than the client's usual 2%: with the
reference profile's bucket of one request, 1% is 40 ms of slack per request, far more than the
jitter of one request every 4 s, and each point of headroom is a point of throughput.
"""

from dataclasses import replace

from pydantic import Field

from sync_pipeline.defs.resources import UpstreamApiResource, env_number
from sync_pipeline.engine.http import ClientConfig, shared_key_for


class UsersApiResource(UpstreamApiResource):
    """One endpoint (`list` or `detail`) of the users API, with its own rate limit and bucket."""

    endpoint: str = Field(
        description="`list` or `detail`: which limit of the users API this client draws from."
    )
    rate_headroom: float | None = Field(
        default=None,
        description="Pace this share under the limit. Default: "
        "USERS_<ENDPOINT>_HEADROOM, else the endpoint's.",
    )
    default_rate_headroom: float = 0.02

    def client_config(self) -> ClientConfig:
        base = super().client_config()
        prefix = f"{self.source}_{self.endpoint}".upper()
        name = f"{self.source}.{self.endpoint}"
        headroom = self.rate_headroom
        if headroom is None:
            headroom = env_number(f"{prefix}_HEADROOM", self.default_rate_headroom)
        return replace(
            base,
            name=name,
            rate_headroom=headroom,
            rps=self.rps or env_number(f"{prefix}_RPS", self.default_rps),
            concurrency=int(
                self.concurrency or env_number(f"{prefix}_CONCURRENCY", self.default_concurrency)
            ),
            shared_limiter_key=shared_key_for(name, base.token) if self.share_rate_limit else None,
        )


def users_api_resources() -> dict[str, UsersApiResource]:
    """`users_api` (the list: 10 requests/s) and `users_detail_api` (1 request per 4 s, 32 in
    flight)."""
    return {
        "users_api": UsersApiResource(
            source="users", endpoint="list", default_rps=10.0, default_concurrency=8
        ),
        "users_detail_api": UsersApiResource(
            source="users",
            endpoint="detail",
            default_rps=0.25,
            default_concurrency=32,
            default_rate_headroom=0.01,
        ),
    }
