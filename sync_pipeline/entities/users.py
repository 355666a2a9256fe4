"""The `/users` API (upstream-api.md section 1) as stored in table `users` (sql/004_users.sql).

A user has two forms: the summary the list shows and the detail the slow endpoint returns (the
summary fields plus profile, settings, roles, addresses and fetched_at). Two fingerprints
follow from that:

- `fingerprint` (the engine's, over the whole detail minus key and volatile fields) guards the
  row: a detail equal to the stored one is never rewritten;
- `summary_fingerprint(record)` covers the contract's summary fields only, so the detector
  computes it from a list entry and the worker from a detail and both get the same 16 bytes
  for the same version. Unknown extra fields are left out on purpose: an upstream that adds a
  field to the detail only would otherwise make every touch look like a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_pipeline.engine.column_types import BIGINT, JSONB, TEXT, TIMESTAMPTZ
from sync_pipeline.engine.entity import Column, EntitySpec
from sync_pipeline.engine.fingerprint import fingerprint
from sync_pipeline.engine.sanitize import NulInName, strip_nul

SUMMARY_FIELDS = ("id", "email", "name", "status", "plan", "team_id", "updated_at", "last_seen_at")

USERS = EntitySpec(
    source="users",
    table="users",
    key=("id",),
    columns=(
        Column("id", BIGINT),
        Column("email", TEXT),
        Column("name", TEXT),
        Column("status", TEXT),
        Column("plan", TEXT),
        Column("team_id", BIGINT),
        Column("updated_at", TIMESTAMPTZ),
        Column("last_seen_at", TIMESTAMPTZ),
        Column("profile", JSONB),
        Column("settings", JSONB),
        Column("roles", JSONB),
        Column("addresses", JSONB),
        Column("fetched_at", TIMESTAMPTZ),
    ),
    volatile=frozenset({"updated_at", "last_seen_at", "fetched_at"}),
)


def summary_fingerprint(record: Mapping[str, Any]) -> bytes:
    """The fingerprint of the summary fields of a list entry or a detail (same bytes for both).

    NUL characters are stripped first, as they are from the stored row, so a user whose name
    holds one is not seen as changed on every tick. Raises `FingerprintError` for values JSON
    cannot express canonically.
    """
    summary = {name: record[name] for name in SUMMARY_FIELDS if name in record}
    try:
        summary = strip_nul(summary)[0]
    except NulInName:
        pass
    return fingerprint(summary, USERS.fingerprint_excluded)
