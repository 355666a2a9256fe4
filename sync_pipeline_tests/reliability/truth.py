"""Record-by-record comparison of a synced table with the reference upstream's own records.

`compare` takes the upstream's records (read with faults off, oddities kept: the upstream's
truth), the table's rows and its quarantine, and finds every record missing, duplicated, stale
(a business field differs) or left live after it was deleted upstream, and every quarantined
record PostgreSQL could have stored (only a value of the wrong type cannot be).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg import sql

from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.sanitize import strip_nul
from sync_pipeline.upstream.data.oddities import oddity_of
from sync_pipeline.upstream.process import UpstreamProcess

Key = tuple[Any, ...]


@dataclass
class Comparison:
    """The outcome of one table's comparison; `exact` when nothing is wrong."""

    table: str
    compared: int
    missing: list[Key] = field(default_factory=list)
    duplicated: list[Key] = field(default_factory=list)
    stale: list[tuple[Key, str, Any, Any]] = field(default_factory=list)
    undeleted: list[Key] = field(default_factory=list)
    quarantined_storable: list[Key] = field(default_factory=list)
    quarantined: int = 0

    @property
    def exact(self) -> bool:
        return not (
            self.missing
            or self.duplicated
            or self.stale
            or self.undeleted
            or self.quarantined_storable
        )

    def describe(self) -> str:
        return (
            f"{self.table}: {self.compared} compared, missing {self.missing[:5]}, duplicated "
            f"{self.duplicated[:5]}, stale {self.stale[:3]}, live but deleted upstream "
            f"{self.undeleted[:5]}, quarantined though storable {self.quarantined_storable[:5]}"
        )


def read_truth(server: UpstreamProcess, source: str, read: Any) -> Any:
    """`read()` with the source's faults off and its odd records still served; the faults the
    source had are set back afterwards."""
    before = server.admin("faults")["sources"][source]
    server.admin("faults", {"source": source, "profile": "none", "data_oddities": True})
    try:
        return read()
    finally:
        restore = {
            "source": source,
            "profile": before["profile"],
            "timeout_s": before["timeout_s"],
            "storm_s": before["storm_s"],
            "data_oddities": before["data_oddities"],
        }
        server.admin("faults", restore)


def compare(
    conn: psycopg.Connection,
    spec: EntitySpec,
    upstream: list[dict[str, Any]],
    seed: int,
    oddity_kind: str,
    where: sql.Composable | None = None,
    unstorable: set[Key] | None = None,
) -> Comparison:
    """Compare `spec.table` (rows matching `where`) with `upstream`, the source's records.

    Records PostgreSQL cannot store are the upstream's `wrong_type` oddities of `oddity_kind`
    under `seed`, or the keys in `unstorable` when given.
    """
    truth = {_key(spec, record): strip_nul(record)[0] for record in upstream}
    columns = [c.name for c in spec.columns]
    rows = _rows(conn, spec, columns, where)
    live = Counter(_key(spec, row) for row in rows if row["deleted_at"] is None)
    stored = {_key(spec, row): row for row in rows if row["deleted_at"] is None}
    quarantined = _quarantined(conn, spec)
    outcome = Comparison(spec.table, compared=len(truth), quarantined=len(quarantined))
    outcome.duplicated = [key for key, count in live.items() if count > 1]
    outcome.undeleted = [key for key in stored if key not in truth]
    outcome.quarantined_storable = [
        key
        for key in quarantined
        if (
            key not in unstorable
            if unstorable is not None
            else oddity_of(seed, oddity_kind, key[-1]) != "wrong_type"
        )
    ]
    for key, record in truth.items():
        row = stored.get(key)
        if row is None:
            if key not in quarantined:
                outcome.missing.append(key)
            continue
        if key in quarantined:
            continue  # a quarantined record keeps its last loadable version
        for name in columns:
            if name in spec.volatile:
                continue
            if not same(row[name], record.get(name)):
                outcome.stale.append((key, name, row[name], record.get(name)))
    return outcome


def same(stored: Any, served: Any) -> bool:
    """Whether a stored value is the upstream's value as PostgreSQL holds it."""
    if stored is None or served is None:
        return stored is None and served is None
    if isinstance(stored, datetime):
        return stored == datetime.fromisoformat(str(served))
    if isinstance(stored, Decimal):
        return stored == Decimal(str(served))
    if isinstance(stored, UUID):
        return str(stored) == str(served)
    if isinstance(stored, float):
        return stored == float(served)
    return stored == served


def _key(spec: EntitySpec, record: dict[str, Any]) -> Key:
    return tuple(str(record[name]) for name in spec.key)


def _rows(
    conn: psycopg.Connection, spec: EntitySpec, columns: list[str], where: sql.Composable | None
) -> list[dict[str, Any]]:
    query = sql.SQL("SELECT {}, deleted_at FROM {} WHERE {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.Identifier(spec.table),
        where if where is not None else sql.SQL("true"),
    )
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(query).fetchall()


def _quarantined(conn: psycopg.Connection, spec: EntitySpec) -> set[Key]:
    """Keys of the records of `spec` quarantined (read from their raw payload)."""
    raws = conn.execute(
        "SELECT raw_json FROM sync_quarantine WHERE entity = %s", (spec.table,)
    ).fetchall()
    keys = set()
    for (raw,) in raws:
        record = json.loads(raw)
        if all(name in record for name in spec.key):
            keys.add(_key(spec, record))
    return keys


def page_records(
    base_url: str, path: str, page_size: int = 1000, token: str | None = None
) -> list[dict[str, Any]]:
    """Every record of a page-numbered listing (`/cars`), straight from the upstream."""
    records: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=base_url, timeout=30, headers=headers) as http:
        page = 1
        while True:
            body = http.get(path, params={"page": page, "page_size": page_size}).json()
            records += body["items"]
            if page * page_size >= body["total"]:
                return records
            page += 1


def cursor_records(
    base_url: str, path: str, limit: int = 100, **params: Any
) -> list[dict[str, Any]]:
    """Every record of a cursor listing (`/stores`, `/contacts`), straight from the upstream."""
    records: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(base_url=base_url, timeout=30) as http:
        while True:
            query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
            body = http.get(path, params=query).json()
            records += body["data"]
            if (cursor := body["next_cursor"]) is None:
                return records


def get_json(base_url: str, path: str) -> Any:
    """One GET's JSON body, straight from the upstream."""
    return httpx.get(f"{base_url}{path}", timeout=30).json()


def contact_records(base_url: str) -> list[dict[str, Any]]:
    """Every contact of every workspace, straight from the upstream."""
    workspaces = [w["id"] for w in get_json(base_url, "/workspaces")["data"]]
    return [
        contact
        for workspace in workspaces
        for contact in cursor_records(base_url, "/contacts", limit=500, workspace_id=workspace)
    ]
