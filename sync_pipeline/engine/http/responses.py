"""What `ApiClient.get_json` hands back: a parsed body, or a typed "not found"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from sync_pipeline.engine.http.config import Secret

T = TypeVar("T")
MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class ApiResponse(Generic[T]):
    """A 2xx answer whose whole body parsed (and passed the caller's `parse`, when given)."""

    status: int
    data: T
    attempts: int
    elapsed_s: float


@dataclass(frozen=True)
class NotFound:
    """A 404: the resource is not there (`code` e.g. `user_not_found`, `character_private`).

    Returned, not raised: each source decides what a missing record means.
    """

    path: str
    code: str | None
    message: str | None


def error_details(body: bytes, token: Secret | None) -> tuple[str | None, str | None]:
    """(code, message) from an error body `{"error": {"code", "message"}}`, token masked.

    Never raises: a body of another shape gives (None, its first characters or None).
    """
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body[:MAX_MESSAGE_CHARS].decode("utf-8", errors="replace").strip()
        return None, _masked(text, token) or None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (
        _masked(str(code), token) if code is not None else None,
        _masked(str(message)[:MAX_MESSAGE_CHARS], token) if message is not None else None,
    )


def _masked(text: str, token: Secret | None) -> str:
    return token.mask(text) if token else text
