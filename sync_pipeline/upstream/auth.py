"""Bearer-token checks, and the labels that stand for tokens in stats (never the token itself)."""

from __future__ import annotations

import hashlib
import hmac

ANONYMOUS = "anonymous"


def token_label(token: str | None) -> str:
    """`token:` and 12 hex digits of the token's SHA-256; tests compute the same to read stats."""
    if not token:
        return ANONYMOUS
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


class TokenCheck:
    """Accepts every request when no token is configured, else only `Bearer <token>`."""

    def __init__(self, token: str | None) -> None:
        self._expected = token.encode() if token else None
        self._label = token_label(token)

    @property
    def required(self) -> bool:
        return self._expected is not None

    def label_for(self, authorization: str | None) -> str | None:
        """The stats label of an allowed request, or None when it must get 401."""
        presented = bearer_token(authorization)
        if self._expected is None:
            return token_label(presented)
        if presented is not None and hmac.compare_digest(presented.encode(), self._expected):
            return self._label
        return None
