"""HTTP answers of the reference upstream: JSON bodies, contract errors, and broken answers.

Bodies arrive as finished bytes; this module only frames them (gzip when the client accepts it
and the body is worth it) or breaks them on purpose (cut, replaced, connection dropped).
"""

from __future__ import annotations

import zlib
from email.utils import formatdate
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

JSON = "application/json"
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 5
NOT_JSON_BODY = (
    b"<!DOCTYPE html><html><head><title>Service Temporarily Unavailable</title></head>"
    b"<body><h1>We'll be right back</h1><p>The API is under maintenance.</p></body></html>"
)


class ApiError(Exception):
    """An answer in the contract's error form: `{"error": {"code", "message"}}`."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def json_response(
    body: bytes, accepts_gzip: bool, status: int = 200, media_type: str = JSON
) -> Response:
    if accepts_gzip and len(body) >= GZIP_MIN_BYTES:
        return Response(
            gzip(body),
            status_code=status,
            media_type=media_type,
            headers={"Content-Encoding": "gzip"},
        )
    return Response(body, status_code=status, media_type=media_type)


def gzip(body: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(body) + compressor.flush()


def truncated(body: bytes, where: float) -> bytes:
    """The body cut somewhere in its first 90%, so it can never parse as the whole document."""
    return body[: max(1, int(len(body) * 0.9 * where))]


def retry_after_date(wall_time: float) -> str:
    """An HTTP date no earlier than `wall_time` (dates have whole seconds, so round up)."""
    return formatdate(float(int(wall_time) + (wall_time % 1 > 0)), usegmt=True)


class DroppedResponse(Response):
    """Promises the whole body in Content-Length, sends part of it, then stops.

    The server closes the connection when the app returns early, so the client sees the
    connection drop mid-body.
    """

    def __init__(self, response: Response, where: float) -> None:
        super().__init__(
            response.body, status_code=response.status_code, media_type=response.media_type
        )
        self.raw_headers = response.raw_headers
        self._sent_bytes = max(1, int(len(response.body) * 0.9 * where))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {"type": "http.response.body", "body": self.body[: self._sent_bytes], "more_body": True}
        )


def accepts_gzip(headers: Any) -> bool:
    return "gzip" in headers.get("accept-encoding", "")
