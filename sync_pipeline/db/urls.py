"""Parsing, checking and masking PostgreSQL URLs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sync_pipeline.errors import ConfigError

_ACCEPTED_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"}


@dataclass(frozen=True)
class DatabaseUrl:
    """A validated PostgreSQL URL with the forms each consumer needs."""

    raw: str

    @classmethod
    def parse(cls, raw: str) -> DatabaseUrl:
        try:
            url = make_url(raw)
        except ArgumentError:
            raise ConfigError(
                f"SYNC_DATABASE_URL is not a URL: {mask_password(raw)!r}; expected "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            ) from None
        if url.drivername not in _ACCEPTED_SCHEMES:
            raise ConfigError(
                f"SYNC_DATABASE_URL has scheme {url.drivername!r}; expected postgresql:// "
                "(for example postgresql://user:password@localhost:5432/sync)"
            )
        if not url.database:
            raise ConfigError("SYNC_DATABASE_URL names no database; add /DATABASE at the end")
        return cls(url.set(drivername="postgresql").render_as_string(hide_password=False))

    @property
    def database(self) -> str:
        return make_url(self.raw).database or ""

    def with_database(self, name: str) -> DatabaseUrl:
        return DatabaseUrl(
            make_url(self.raw).set(database=name).render_as_string(hide_password=False)
        )

    def conninfo(self) -> str:
        """libpq form for psycopg 3."""
        return make_conninfo(self.raw)

    def psycopg2_url(self) -> str:
        """The `postgresql+psycopg2://` form that dagster-postgres needs."""
        return (
            make_url(self.raw)
            .set(drivername="postgresql+psycopg2")
            .render_as_string(hide_password=False)
        )

    def describe(self) -> str:
        """Host, port and database for messages; never the password."""
        params = conninfo_to_dict(self.conninfo())
        host = params.get("host", "localhost")
        port = params.get("port", "5432")
        user = params.get("user", "")
        return f"{user + '@' if user else ''}{host}:{port}/{params.get('dbname', '')}"

    def masked(self) -> str:
        return mask_password(self.raw)

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.masked()!r})"


def mask_password(raw: str) -> str:
    """`raw` with any password replaced by ***, even when it does not parse."""
    try:
        url = make_url(raw)
    except ArgumentError:
        return raw.split("@")[-1] if "@" in raw else raw
    shown = url.render_as_string(hide_password=bool(url.password))
    return unquote(shown)
