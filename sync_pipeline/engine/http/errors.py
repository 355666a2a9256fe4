"""Errors the HTTP client raises, and the error classes it retries.

Every error raised to a caller is an `ApiError`. Messages name the method, the path and the
upstream's own error code and message; they never contain the bearer token (the client masks
it out of any text that came from the upstream before building a message).
"""

from __future__ import annotations

from enum import Enum


class ErrorClass(str, Enum):
    """Why an attempt failed; retries, metrics and logs are counted by this."""

    THROTTLED = "throttled"  # 429: wait for Retry-After, slow down
    SERVER_ERROR = "server_error"  # 5xx
    TIMEOUT = "timeout"  # connect, read, write or pool timeout, or the attempt's own deadline
    CONNECTION = "connection"  # refused, reset or dropped connection, truncated response
    MALFORMED = "malformed"  # a body that is not JSON, is truncated, or has the wrong shape


class ApiError(Exception):
    """Base of every error the client raises to its caller."""


class ConfigurationError(ApiError, ValueError):
    """A `ClientConfig` value is out of range (raised when the config is built)."""


class RequestRejected(ApiError):
    """The upstream answered with a 4xx that retrying cannot fix.

    `status` is the HTTP status; `code` and `upstream_message` come from the error body
    `{"error": {"code", "message"}}` when the upstream sent one.
    """

    def __init__(
        self, method: str, path: str, status: int, code: str | None, upstream_message: str | None
    ) -> None:
        self.method, self.path, self.status = method, path, status
        self.code, self.upstream_message = code, upstream_message
        detail = f" {code}" if code else ""
        detail += f": {upstream_message}" if upstream_message else ""
        super().__init__(f"{method} {path} was rejected with HTTP {status}{detail}{self.hint()}")

    def hint(self) -> str:
        return ""


class AuthError(RequestRejected):
    """401: the token is missing, wrong or expired."""

    def hint(self) -> str:
        return " (check the API token setting for this source; the token itself is never shown)"


class Forbidden(RequestRejected):
    """403: the token may not read this resource (e.g. `store_token_expired`)."""


class BadRequest(RequestRejected):
    """400: the request itself is wrong (a bug or a bad parameter, not a transient failure)."""


class MalformedBody(ApiError):
    """A 2xx body that is not the JSON the caller expects; the client retries these."""


class RetryBudgetExhausted(ApiError):
    """Every allowed attempt failed, or the request's total time budget ran out."""

    def __init__(
        self, method: str, path: str, attempts: int, elapsed_s: float, last: ErrorClass, reason: str
    ) -> None:
        self.method, self.path, self.attempts, self.elapsed_s, self.last_error = (
            method,
            path,
            attempts,
            elapsed_s,
            last,
        )
        super().__init__(
            f"{method} {path} failed after {attempts} attempt(s) in {elapsed_s:.1f} s; "
            f"last error: {last.value} ({reason})"
        )


class CircuitOpen(ApiError):
    """The upstream's circuit breaker is open: too many consecutive failures; no request was
    sent."""

    def __init__(self, upstream: str, retry_in_s: float) -> None:
        self.upstream, self.retry_in_s = upstream, retry_in_s
        super().__init__(
            f"circuit breaker for {upstream} is open after repeated failures; "
            f"the next probe is allowed in {max(retry_in_s, 0.0):.1f} s"
        )


class RateLimiterUnavailable(ApiError):
    """The shared (PostgreSQL) rate limiter cannot be reached, so no request may be sent."""
