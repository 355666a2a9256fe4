"""CRM workspaces and contacts (`GET /workspaces`, `GET /contacts`).

Contacts are keyed `(workspace_id, id)` with uuid ids, so a workspace's contacts are contiguous
and ordered by id as the contract asks; a cursor is the last id served.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from sync_pipeline.upstream.clock import DATA_END_MS, DATA_START_MS, iso_column, iso_from_ms
from sync_pipeline.upstream.data.rng import pick, spread_ms, stream
from sync_pipeline.upstream.data.table import RecordTable, Row, to_blob
from sync_pipeline.upstream.data.vocab import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, email_for

STAGES = ("lead", "mql", "sql", "opportunity", "customer", "churned")
WORKSPACE_NAMES = (
    "Acme Sales",
    "Northwind EU",
    "Globex Partners",
    "Initech Support",
    "Umbrella Marketing",
    "Contoso APAC",
    "Hooli Growth",
    "Soylent Enterprise",
    "Vandelay Imports",
    "Wayne Foundation",
)
COMPANIES = (
    "Acme GmbH",
    "Globex S.A.",
    "Initech LLC",
    "Stark Industries",
    "Wonka Confections",
    "Tyrell Corp.",
    "Żabka Sp. z o.o.",
    "Nakatomi 株式会社",
    "Müller & Söhne KG",
    "Ôtel Côte d'Azur SARL",
)
INDUSTRIES = (
    "Retail",
    "Software",
    "Logistics",
    "Healthcare",
    "Manufacturing",
    "Hospitality",
    "Finance",
    "Education",
)
COUNTRIES = ("US", "DE", "FR", "PL", "JP", "BR", "GB", "IN", "NG", "KR", "ES", "CA")
CAMPAIGNS = (
    "spring-webinar",
    "black-friday",
    "product-hunt-launch",
    "partner-referral",
    "cold-outbound",
    None,
)
OWNERS = 40


def generate_workspaces(seed: int, count: int) -> list[dict[str, str]]:
    rng = stream(seed, "workspaces")
    names = [WORKSPACE_NAMES[index % len(WORKSPACE_NAMES)] for index in range(count)]
    return [
        {
            "id": f"ws_{rng.integers(0, 1 << 32):08x}",
            "name": name
            if index < len(WORKSPACE_NAMES)
            else f"{name} {index // len(WORKSPACE_NAMES) + 1}",
        }
        for index, name in enumerate(names)
    ]


def generate_contacts(seed: int, workspaces: list[dict[str, str]], count: int) -> RecordTable:
    """`count` contacts spread unevenly over the workspaces (every workspace gets some)."""
    rng = stream(seed, "contacts")
    shares = rng.dirichlet(np.full(len(workspaces), 2.0))
    first_each = np.arange(min(count, len(workspaces)))
    owners = np.concatenate(
        [first_each, rng.choice(len(workspaces), size=count - len(first_each), p=shares)]
    )
    in_workspaces = [workspaces[i]["id"] for i in owners.tolist()]
    records, updated_ms = contact_records(rng, in_workspaces, DATA_START_MS, DATA_END_MS)
    return RecordTable.from_rows(
        [contact_row(record, ms) for record, ms in zip(records, updated_ms.tolist())]
    )


def contact_row(record: dict[str, Any], updated_ms: int) -> Row:
    return Row((record["workspace_id"], record["id"]), to_blob(record), updated_ms)


def contact_records(
    rng: np.random.Generator, workspace_ids: list[str], start_ms: int, end_ms: int
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Contacts in the given workspaces, and their `updated_at` in ms."""
    n = len(workspace_ids)
    updated = spread_ms(rng, start_ms, end_ms, n)
    raw_ids = rng.integers(0, 1 << 63, (n, 2), dtype=np.uint64).astype(">u8").tobytes()
    columns = zip(
        workspace_ids,
        pick(rng, FIRST_NAMES, n).tolist(),
        pick(rng, LAST_NAMES, n).tolist(),
        pick(rng, EMAIL_DOMAINS, n).tolist(),
        pick(rng, STAGES, n, (40, 20, 12, 10, 14, 4)).tolist(),
        rng.integers(-8, OWNERS, n).tolist(),
        rng.integers(0, 1 << 30, n).tolist(),
        iso_column(updated),
    )
    ids = [str(uuid.UUID(bytes=raw_ids[16 * i : 16 * i + 16], version=4)) for i in range(n)]
    return [_contact(contact_id, *row) for contact_id, row in zip(ids, columns)], updated


def _contact(
    contact_id: str,
    workspace_id: str,
    first: int,
    last: int,
    domain: int,
    stage: int,
    owner: int,
    salt: int,
    updated_at: str,
) -> dict[str, Any]:
    first_name, last_name = FIRST_NAMES[first], LAST_NAMES[last]
    return {
        "id": contact_id,
        "workspace_id": workspace_id,
        "name": f"{first_name} {last_name}",
        "email": email_for(first_name, last_name, salt % 997, EMAIL_DOMAINS[domain]),
        "stage": STAGES[stage],
        "owner_id": owner + 1 if owner >= 0 else None,
        "custom_fields": custom_fields(salt),
        "updated_at": updated_at,
    }


def custom_fields(salt: int) -> dict[str, Any]:
    """A few scalar fields, different per contact, as CRMs hold them (strings, numbers, booleans,
    nulls)."""
    fields: dict[str, Any] = {"company": COMPANIES[salt % len(COMPANIES)], "lead_score": salt % 101}
    if salt & 1 << 8:
        fields["industry"] = INDUSTRIES[(salt >> 9) % len(INDUSTRIES)]
    if salt & 1 << 12:
        fields["country"] = COUNTRIES[(salt >> 13) % len(COUNTRIES)]
    if salt & 1 << 17:
        fields["newsletter"] = bool(salt & 1 << 18)
    if salt & 1 << 19:
        fields["arr"] = round((salt >> 20) % 5000 * 12.5, 2)
    if salt & 1 << 24:
        fields["last_campaign"] = CAMPAIGNS[(salt >> 25) % len(CAMPAIGNS)]
    return fields


def update_contact(contact: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    """A field change a workflow trigger could watch: the stage, the owner or the lead score."""
    change = int(rng.integers(0, 3))
    if change == 0:
        contact["stage"] = STAGES[(STAGES.index(contact["stage"]) + 1) % len(STAGES)]
    elif change == 1:
        current = contact["owner_id"] if isinstance(contact["owner_id"], int) else 0
        contact["owner_id"] = (
            current + int(rng.integers(0, OWNERS - 1))
        ) % OWNERS + 1  # never the current owner
    else:
        fields = contact["custom_fields"] if isinstance(contact["custom_fields"], dict) else {}
        fields["lead_score"] = (int(fields.get("lead_score", 0)) + int(rng.integers(1, 30))) % 101
        contact["custom_fields"] = fields
    contact["updated_at"] = iso_from_ms(stamp_ms)


def touch_contact(contact: dict[str, Any], rng: np.random.Generator, stamp_ms: int) -> None:
    contact["updated_at"] = iso_from_ms(stamp_ms)


def new_contacts(
    rng: np.random.Generator, workspace_ids: list[str], stamp_ms: int
) -> list[dict[str, Any]]:
    return contact_records(rng, workspace_ids, stamp_ms, stamp_ms + 1)[0]
