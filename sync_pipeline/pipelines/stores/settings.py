"""The knobs of a stores run: stores in flight per job, page size, progress interval."""

from __future__ import annotations

from dataclasses import dataclass

from sync_pipeline.engine.http import ClientConfig, Secret, shared_key_for
from sync_pipeline.errors import ConfigError
from sync_pipeline.settings import positive_int_env

DEFAULT_USERS_CONCURRENCY = 30
DEFAULT_VIDEOS_CONCURRENCY = 20
MAX_PAGE_SIZE = 100
DEFAULT_RPS = 10.0
RATE_HEADROOM = 0.01


@dataclass(frozen=True)
class StoresSyncSettings:
    """At most `users_concurrency` stores fetch their users, and `videos_concurrency` their videos,
    at once (both lowered for a while on 429s); pages of `page_size`; a progress line every
    `progress_every_s` seconds."""

    users_concurrency: int = DEFAULT_USERS_CONCURRENCY
    videos_concurrency: int = DEFAULT_VIDEOS_CONCURRENCY
    page_size: int = MAX_PAGE_SIZE
    progress_every_s: float = 60.0

    def __post_init__(self) -> None:
        if self.users_concurrency < 1 or self.videos_concurrency < 1:
            raise ConfigError(
                "stores concurrency settings must be at least 1, got "
                f"{self.users_concurrency} and {self.videos_concurrency}"
            )
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"stores page_size must be 1..{MAX_PAGE_SIZE}, got {self.page_size}")
        if self.progress_every_s <= 0:
            raise ConfigError(f"progress_every_s must be positive, got {self.progress_every_s}")

    @classmethod
    def from_env(cls, **overrides: object) -> StoresSyncSettings:
        """`SYNC_CONCURRENCY` (users, default 30) and `VIDEO_SYNC_CONCURRENCY` (videos, default
        20), then `overrides`; raises `ConfigError` for a bad value."""
        values: dict[str, object] = {
            "users_concurrency": positive_int_env("SYNC_CONCURRENCY", DEFAULT_USERS_CONCURRENCY),
            "videos_concurrency": positive_int_env(
                "VIDEO_SYNC_CONCURRENCY", DEFAULT_VIDEOS_CONCURRENCY
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def requests_in_flight(self) -> int:
        """What the API client must allow in flight: one request per store at work, plus one."""
        return self.users_concurrency + self.videos_concurrency + 1


def stores_client_config(
    base_url: str,
    token: Secret | None,
    settings: StoresSyncSettings,
    rps: float | None = DEFAULT_RPS,
    shared: bool = True,
) -> ClientConfig:
    """The one client of the stores API: its per-app limit (`rps`), shared through PostgreSQL by
    every run and process using the same token (unless `shared` is False), and enough requests
    in flight for every store at work.

    Paced 1% under the limit with no burst of its own: the upstream's bucket then stays full,
    so the arrival jitter of a loaded machine never meets an empty bucket.
    """
    return ClientConfig(
        base_url=base_url,
        token=token,
        name="stores",
        rps=rps,
        burst=1,
        rate_headroom=RATE_HEADROOM,
        concurrency=settings.requests_in_flight,
        max_queue=0,
        shared_limiter_key=shared_key_for("stores", token) if shared else None,
    )
