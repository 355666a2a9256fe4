"""The `/contacts` CRM API (upstream-api.md section 5) as stored in table `contacts`
(sql/009_contacts.sql).

Contacts are keyed by their uuid and scoped by `workspace_id`: a full refresh of one workspace
soft-deletes only that workspace's missing contacts. `updated_at` is volatile, so a touch never
writes the row (and so never reaches the field-change trigger).
"""

from __future__ import annotations

from sync_pipeline.engine.column_types import BIGINT, JSONB, TEXT, TIMESTAMPTZ, UUID
from sync_pipeline.engine.entity import Column, EntitySpec

CONTACTS = EntitySpec(
    source="contacts",
    table="contacts",
    key=("id",),
    columns=(
        Column("id", UUID),
        Column("workspace_id", TEXT, required=True),
        Column("name", TEXT),
        Column("email", TEXT),
        Column("stage", TEXT),
        Column("owner_id", BIGINT),
        Column("custom_fields", JSONB),
        Column("updated_at", TIMESTAMPTZ),
    ),
    volatile=frozenset({"updated_at"}),
    scope=("workspace_id",),
)
