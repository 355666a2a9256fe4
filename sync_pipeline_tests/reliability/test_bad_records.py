"""Bad records through the contacts write path (the engine's `SyncRun`, as the pipeline uses
it), among the upstream's own contacts: SQL injection attempts in values and JSON keys are
stored as data, NUL bytes stripped, 10 kB strings and unknown fields kept, a duplicated key
within a page stored once, wrong types and a missing key quarantined with reason and raw
payload, and a quarantined record never delists its stored row."""

from __future__ import annotations

import json
import uuid

from sync_pipeline.db.pool import open_pool
from sync_pipeline.entities.contacts import CONTACTS
from sync_pipeline_tests.engine.db.runs import sync
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.truth import compare, cursor_records, get_json

INJECTIONS = (
    "Robert'); DROP TABLE contacts; --",
    "x' OR '1'='1",
    '"; DELETE FROM sync_quarantine; --',
    "$$; TRUNCATE contacts; $$",
    "\\'; SELECT pg_sleep(10); --",
)
LONG = "ü" * 10_240


def hostile_records(workspace: str, victim: dict) -> tuple[list[dict], dict[str, dict]]:
    """The bad records to add, and those that must be stored (by id) as PostgreSQL holds them."""

    def contact(**fields) -> dict:
        return {
            "id": str(uuid.uuid4()),
            "workspace_id": workspace,
            "name": "n",
            "email": "e@x.io",
            "stage": "lead",
            "owner_id": None,
            "custom_fields": {},
            "updated_at": "2026-11-20T10:00:00+00:00",
            **fields,
        }

    injected = [
        contact(name=text, email=text, stage=text, custom_fields={text: text, "plain": text})
        for text in INJECTIONS
    ]
    nul = contact(name="a\x00b")
    long_text = contact(name=LONG, custom_fields={"notes": LONG})
    unknown = contact(x_trace_id="7f9c", _links={"self": {"href": "/v2"}})
    twice = contact(name="first copy")
    twice_again = {**twice, "name": "second copy"}
    string_json = contact(custom_fields="a JSON string is a JSON value")  # jsonb holds it
    stored = {c["id"]: c for c in (*injected, long_text, unknown, twice_again, string_json)}
    stored[nul["id"]] = {**nul, "name": "ab"}
    wrong = [
        contact(owner_id="owner-17"),
        contact(owner_id=12.5),
        {**victim, "owner_id": "owner-17"},  # the stored row keeps its last loadable version
    ]
    no_key = contact()
    del no_key["id"]
    records = [*injected, nul, long_text, unknown, twice, twice_again, string_json, *wrong, no_key]
    return records, stored


def test_bad_records_and_sql_injection_are_stored_as_data(fresh_upstream, db_url, db, figures):
    server = fresh_upstream(11, contacts=120)
    workspace = get_json(server.url, "/workspaces")["data"][0]["id"]
    upstream = cursor_records(server.url, "/contacts", limit=500, workspace_id=workspace)
    victim = upstream[0]
    bad, expected_bad = hostile_records(workspace, victim)
    tables_before = db.execute(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    ).fetchone()
    scope = {"workspace_id": workspace}
    with open_pool(db_url, max_size=4, name="bad_records") as pool:
        sync(pool, CONTACTS, upstream, pipeline="contacts", scope=scope, page_size=40)
        sync(pool, CONTACTS, upstream[1:] + bad, pipeline="contacts", scope=scope, run_id="bad")
    assert (
        db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        == tables_before
    )

    quarantined = db.execute(
        "SELECT reason, raw_json FROM sync_quarantine WHERE run_id = %s", ("bad",)
    ).fetchall()
    assert len(quarantined) == 4 and all(reason for reason, _ in quarantined)
    raw = [json.loads(payload) for _, payload in quarantined]
    assert {r.get("owner_id") for r in raw} >= {"owner-17"}
    assert any("id" not in r for r in raw), "the keyless record is kept with its raw payload"
    unstorable = {(str(r["id"]),) for r in raw if "id" in r}

    kept = db.execute(
        "SELECT deleted_at IS NULL, owner_id FROM contacts WHERE id = %s", (victim["id"],)
    ).fetchone()
    assert kept == (True, victim["owner_id"]), "a quarantined record delisted its stored row"
    extras = [
        extra for (extra,) in db.execute("SELECT extra FROM contacts WHERE extra IS NOT NULL")
    ]
    assert {"x_trace_id": "7f9c", "_links": {"self": {"href": "/v2"}}} in extras

    truth = upstream + list(expected_bad.values())
    comparison = compare(db, CONTACTS, truth, 11, "contacts", unstorable=unstorable)
    for text in INJECTIONS:
        (custom,) = db.execute(
            "SELECT custom_fields FROM contacts WHERE name = %s", (text,)
        ).fetchone()
        assert custom == {text: text, "plain": text}
    assert_exact(
        figures, "bad records (types, NUL, 10 kB, keys, SQL injection)", len(bad), comparison
    )
