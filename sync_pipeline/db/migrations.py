"""Apply `sql/NNN_name.sql` files in order, each once, recorded with a SHA-256 checksum.

Kept small on purpose: yoyo-migrations and friends do not refuse an applied file whose text
changed, which is the guarantee we want. Rules:

- `000_schema_migrations.sql` is the bootstrap (the ledger table) and runs every time;
- each other file runs in its own transaction: it applies completely or not at all;
- a session-level advisory lock serialises concurrent `migrate` calls (two processes at once
  are safe: the second waits, then finds nothing to do);
- an applied file whose checksum changed stops everything with `MigrationChecksumMismatch`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from sync_pipeline.db.connect import connect
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.errors import ConfigError
from sync_pipeline.settings import project_root

MIGRATION_LOCK_KEY = 0x53594E43  # "SYNC"
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
BOOTSTRAP_VERSION = 0


class MigrationError(ConfigError):
    """A migration file could not be applied; nothing of it was kept."""


class MigrationChecksumMismatch(MigrationError):
    """An already applied migration file was edited afterwards."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class MigrationState:
    migration: Migration
    applied_checksum: str | None

    @property
    def status(self) -> str:
        if self.applied_checksum is None:
            return "pending"
        return "applied" if self.applied_checksum == self.migration.checksum else "CHANGED"


def default_sql_dir() -> Path:
    return project_root() / "sql"


def discover(directory: Path | None = None) -> list[Migration]:
    """Migrations in `directory`, ordered by version; rejects stray names and duplicates."""
    directory = directory or default_sql_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"two migrations have version {version:03d}: {found[version].filename}, {path.name}"
            )
        found[version] = Migration(version, match.group(2), path, path.read_text(encoding="utf-8"))
    if BOOTSTRAP_VERSION not in found:
        raise MigrationError(f"{directory} has no 000_*.sql bootstrap migration")
    return [found[v] for v in sorted(found)]


def migrate(url: DatabaseUrl, directory: Path | None = None) -> list[Migration]:
    """Apply every pending migration; returns the ones applied by this call."""
    migrations = discover(directory)
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(migrations[0].sql)
            applied = _applied_checksums(conn)
            _refuse_changed(migrations, applied)
            return [m for m in migrations[1:] if m.version not in applied and _apply(conn, m)]
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def status(url: DatabaseUrl, directory: Path | None = None) -> list[MigrationState]:
    """Each migration with the checksum recorded for it (None: not applied)."""
    migrations = discover(directory)
    with connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        applied = _applied_checksums(conn) if exists else {}
    return [MigrationState(m, applied.get(m.version)) for m in migrations[1:]]


def _applied_checksums(conn: psycopg.Connection) -> dict[int, str]:
    return dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def _refuse_changed(migrations: list[Migration], applied: dict[int, str]) -> None:
    for m in migrations[1:]:
        recorded = applied.get(m.version)
        if recorded is not None and recorded != m.checksum:
            raise MigrationChecksumMismatch(
                f"migration {m.filename} was edited after it was applied "
                f"(recorded checksum {recorded[:12]}, file now {m.checksum[:12]}); "
                "add a new migration instead of editing an applied one"
            )


def _apply(conn: psycopg.Connection, migration: Migration) -> bool:
    try:
        with conn.transaction():
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(
            f"migration {migration.filename} failed and was rolled back: {exc}".strip()
        ) from exc
    return True
