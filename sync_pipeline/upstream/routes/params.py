"""Query parameters and cursors, read by hand (no models on the hot path), with contract errors."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request

from sync_pipeline.upstream.clock import ms_from_iso
from sync_pipeline.upstream.responses import ApiError


def int_param(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be a whole number") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError(400, "invalid_parameter", f"{name} must be {bounds}")
    return value


def time_param(request: Request, name: str) -> int | None:
    """An ISO 8601 timestamp parameter as UTC milliseconds (None when absent)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return ms_from_iso(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be an ISO 8601 timestamp") from None


def encode_cursor(kind: str, value: Any) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def cursor_param(request: Request, kind: str) -> str | None:
    """The value inside an opaque cursor made by `encode_cursor(kind, ...)`, or None."""
    raw = request.query_params.get("cursor")
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API handed out") from None
    prefix, sep, value = text.partition(":")
    if prefix != kind or not sep:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API handed out")
    return value


def int_cursor(request: Request, kind: str) -> int | None:
    value = cursor_param(request, kind)
    if value is None:
        return None
    if not value.isdigit():
        raise ApiError(400, "invalid_cursor", "cursor is not one this API handed out")
    return int(value)
