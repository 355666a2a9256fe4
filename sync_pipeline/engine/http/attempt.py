"""The verdict on one HTTP attempt: a parsed body, a `NotFound`, a rejection, or a retryable
failure.

Kept apart from the client's loop so that each rule of the contract's "what a client must
survive" reads as one line here: which statuses and transport errors are retried, and that a
2xx body is handed on only after all of it parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from sync_pipeline.engine.http.config import Secret
from sync_pipeline.engine.http.errors import (
    AuthError,
    BadRequest,
    ErrorClass,
    Forbidden,
    MalformedBody,
    RequestRejected,
)
from sync_pipeline.engine.http.responses import NotFound, error_details
from sync_pipeline.engine.http.retry import error_class_for_status, parse_retry_after

REJECTIONS: dict[int, type[RequestRejected]] = {400: BadRequest, 401: AuthError, 403: Forbidden}


class AttemptFailed(Exception):
    """One attempt failed in a way worth retrying (internal to the client, never raised to callers).

    `retry_after_s` is the wait a 429's `Retry-After` asked for.
    """

    def __init__(self, error: ErrorClass, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.error, self.reason, self.retry_after_s = error, reason, retry_after_s


def transport_failure(exc: BaseException) -> AttemptFailed:
    """The retryable failure for an exception raised while sending or reading."""
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return AttemptFailed(ErrorClass.TIMEOUT, type(exc).__name__)
    if isinstance(exc, httpx.DecodingError):
        return AttemptFailed(ErrorClass.MALFORMED, "the body could not be decompressed")
    return AttemptFailed(ErrorClass.CONNECTION, type(exc).__name__)


def interpret_response(
    response: httpx.Response, parse: Callable[[Any], Any] | None, token: Secret | None, where: str
) -> tuple[int, Any] | NotFound:
    """(status, parsed body) for a 2xx, `NotFound` for a 404.

    Raises `AttemptFailed` for 429, 5xx and bodies that do not parse or fail `parse`;
    `AuthError`, `Forbidden`, `BadRequest` or `RequestRejected` for other statuses.
    """
    status = response.status_code
    if 200 <= status < 300:
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise AttemptFailed(
                ErrorClass.MALFORMED, f"HTTP {status} with a body that is not JSON"
            ) from None
        if parse is None:
            return status, data
        try:
            return status, parse(data)
        except (MalformedBody, KeyError, TypeError, ValueError) as exc:
            detail = token.mask(str(exc)) if token else str(exc)
            raise AttemptFailed(
                ErrorClass.MALFORMED, f"HTTP {status} with a body of the wrong shape: {detail}"
            ) from None
    retryable = error_class_for_status(status)
    if retryable is ErrorClass.THROTTLED:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise AttemptFailed(retryable, "HTTP 429", retry_after_s=retry_after)
    if retryable is not None:
        raise AttemptFailed(retryable, f"HTTP {status}")
    code, message = error_details(response.content, token)
    if status == 404:
        return NotFound(where, code, message)
    raise REJECTIONS.get(status, RequestRejected)("GET", where, status, code, message)
