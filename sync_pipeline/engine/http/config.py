"""What an `ApiClient` is configured with, and the bearer token kept out of sight."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from sync_pipeline.engine.http.errors import ConfigurationError
from sync_pipeline.settings import source_env_names

MASK = "***"


class Secret:
    """A string that never shows itself: `repr`, `str` and f-strings give `***`.

    Only `reveal()` returns the value, and only the client calls it, to build the
    `Authorization` header. `mask(text)` removes the value from any text before it is shown.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def mask(self, text: str) -> str:
        return text.replace(self._value, MASK) if self._value else text

    def fingerprint(self) -> str:
        """A short, one-way digest: lets two runs recognise the same token without storing it."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Timeouts:
    """Seconds httpx waits to connect, between bytes of a response, to send, and for a pooled
    connection."""

    connect_s: float = 5.0
    read_s: float = 30.0
    write_s: float = 10.0
    pool_s: float = 30.0


@dataclass(frozen=True)
class ClientConfig:
    """Everything one upstream client needs. Defaults suit the cars API
    (16 in flight, 20 requests/s).

    `rps` is the API's documented limit for the token (None: unlimited) and `burst` how many
    requests it accepts at once; the client paces at `rps * (1 - rate_headroom)` (0.5% under:
    19.9/s of 20/s) so that arrival jitter never pushes the server's own count over the limit,
    and never sends more than `rps + burst - 1` in any one second (`window_cap.py`). APIs that
    allow no burst (one request at a time) want more headroom (the users detail client: 1%). With
    `shared_limiter_key` set, every process using that key draws from one PostgreSQL-backed bucket.
    A request is tried at most `max_attempts` times (429s wait but do not count) and never for
    longer than `total_budget_s`, counted from its first slot (queueing behind the rate limit
    before it is pacing, not failing). More than `breaker_threshold` consecutive failures open the
    circuit breaker for `breaker_open_s` seconds. `transport` is what carries the bytes under
    httpx: "aiohttp" (default, about ten times less CPU per request, see `transport.py`) or
    "httpx" (httpx's own).
    """

    base_url: str
    token: Secret | None = field(default=None, repr=False)
    name: str = "upstream"
    rps: float | None = 20.0
    burst: int = 1
    rate_headroom: float = 0.005
    concurrency: int = 16
    max_queue: int = 16
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_attempts: int = 8
    total_budget_s: float = 300.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    throttle_rate_factor: float = 0.8
    throttle_slow_for_s: float = 60.0
    breaker_threshold: int = 10
    breaker_open_s: float = 60.0
    shared_limiter_key: str | None = None
    transport: str = "aiohttp"

    def __post_init__(self) -> None:
        if isinstance(self.token, str):
            object.__setattr__(self, "token", Secret(self.token) if self.token else None)
        checks = {
            "rps must be positive or None": self.rps is None or self.rps > 0,
            "burst must be at least 1": self.burst >= 1,
            "rate_headroom must be in [0, 0.5)": 0 <= self.rate_headroom < 0.5,
            "concurrency must be at least 1": self.concurrency >= 1,
            "max_queue must be at least 0": self.max_queue >= 0,
            "max_attempts must be at least 1": self.max_attempts >= 1,
            "total_budget_s must be positive": self.total_budget_s > 0,
            "backoff_cap_s must be >= backoff_base_s > 0": 0
            < self.backoff_base_s
            <= self.backoff_cap_s,
            "throttle_rate_factor must be in (0, 1]": 0 < self.throttle_rate_factor <= 1,
            "breaker_threshold must be at least 1": self.breaker_threshold >= 1,
            "breaker_open_s must be positive": self.breaker_open_s > 0,
            "base_url must start with http:// or https://": self.base_url.startswith(
                ("http://", "https://")
            ),
            "transport must be 'aiohttp' or 'httpx'": self.transport in ("aiohttp", "httpx"),
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ConfigurationError(f"invalid client config for {self.name}: {'; '.join(failed)}")

    @property
    def paced_rps(self) -> float | None:
        """The rate the client actually sends at: the limit less the headroom."""
        return None if self.rps is None else self.rps * (1.0 - self.rate_headroom)

    @classmethod
    def from_env(cls, source: str, **overrides: object) -> ClientConfig:
        """Config for `source` from `SYNC_<SOURCE>_API_URL` and `SYNC_<SOURCE>_API_TOKEN`.

        Raises `ConfigurationError` when the URL variable is unset.
        """
        url_var, token_var = source_env_names(source)
        base_url = os.environ.get(url_var)
        if not base_url:
            raise ConfigurationError(
                f"{url_var} is not set; it must hold the {source} API's base URL"
            )
        token = os.environ.get(token_var) or None
        return cls(
            base_url=base_url, token=Secret(token) if token else None, name=source, **overrides
        )


def shared_key_for(name: str, token: Secret | None) -> str:
    """The shared-limiter key for one API key: the source name plus a digest of the token."""
    return f"{name}:{token.fingerprint() if token else 'anonymous'}"
