"""The row trigger on `contacts` and the dispatcher: which changes fire which triggers."""

from __future__ import annotations

import asyncio

import psycopg

from sync_pipeline.workflows.dispatcher import dispatch_pending
from sync_pipeline_tests.workflows.helpers import (
    add_contact,
    add_trigger,
    changes,
    executions,
    set_stage,
)

URL = "http://127.0.0.1:9/hook"


def dispatch(conninfo: str):
    async def run():
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await dispatch_pending(conn, 500)

    return asyncio.run(run())


def test_stage_change_fires_exactly_the_matching_triggers_once(db, db_url):
    to_opportunity = add_trigger(db, "ws1", "stage", URL, to_value="opportunity", priority=2)
    any_stage = add_trigger(db, "ws1", "stage", URL)
    from_sql = add_trigger(db, "ws1", "stage", URL, from_value="sql", to_value="opportunity")
    add_trigger(db, "ws1", "stage", URL, to_value="customer")
    add_trigger(db, "ws1", "stage", URL, from_value="lead")
    add_trigger(db, "ws2", "stage", URL)
    add_trigger(db, "ws1", "owner_id", URL)
    contact = add_contact(db, "ws1", stage="sql")
    bystander = add_contact(db, "ws2", stage="sql")

    set_stage(db, contact, "opportunity")
    first = dispatch(db_url.conninfo())
    db.execute(
        "UPDATE contact_field_changes SET dispatched = false"
    )  # a dispatcher crashed before marking
    again = dispatch(db_url.conninfo())

    assert changes(db) == [(contact, "stage", "sql", "opportunity")]
    fired = executions(db)
    assert sorted(e["trigger_id"] for e in fired) == sorted([to_opportunity, any_stage, from_sql])
    assert (first.changes, first.queued, again.changes, again.queued) == (1, 3, 1, 0)
    by_trigger = {e["trigger_id"]: e for e in fired}
    assert by_trigger[to_opportunity]["priority"] == 2
    payload = by_trigger[to_opportunity]["payload"]
    assert {
        k: payload[k] for k in ("trigger_id", "workspace_id", "contact_id", "field", "old", "new")
    } == {
        "trigger_id": to_opportunity,
        "workspace_id": "ws1",
        "contact_id": str(contact),
        "field": "stage",
        "old": "sql",
        "new": "opportunity",
    }
    assert payload["changed_at"]
    assert all(e["status"] == "queued" and e["attempts"] == 0 for e in fired)
    assert bystander not in {e["contact_id"] for e in fired}


def test_unwatched_fields_and_touches_log_nothing(db, db_url):
    add_trigger(db, "ws1", "stage", URL)
    add_trigger(db, "ws1", "custom_fields.lead_score", URL)
    contact = add_contact(db, "ws1", custom_fields={"lead_score": 10, "company": "Acme"})
    unwatched_workspace = add_contact(db, "ws9")

    db.execute(
        "UPDATE contacts SET updated_at = now() + interval '1 hour', synced_at = now(), "
        "last_run_id = 'touch' WHERE id = %s",
        (contact,),
    )
    db.execute(
        "UPDATE contacts SET name = 'Grace Hopper', email = 'grace@example.com', owner_id = 7 "
        "WHERE id = %s",
        (contact,),
    )
    db.execute(
        """UPDATE contacts SET custom_fields = '{"lead_score": 10, "company": "Globex"}' """
        "WHERE id = %s",
        (contact,),
    )
    db.execute("UPDATE contacts SET stage = 'customer' WHERE id = %s", (unwatched_workspace,))
    assert changes(db) == []

    db.execute(
        """UPDATE contacts SET custom_fields = '{"company": "Globex", "lead_score": 11}' """
        "WHERE id = %s",
        (contact,),
    )
    db.execute(
        """UPDATE contacts SET custom_fields = '{"company": "Globex"}' WHERE id = %s""", (contact,)
    )
    assert changes(db) == [
        (contact, "custom_fields.lead_score", 10, 11),
        (contact, "custom_fields.lead_score", 11, None),
    ]
    assert dispatch(db_url.conninfo()).queued == 2


def test_watched_fields_follow_trigger_changes(db):
    first = add_trigger(db, "ws1", "stage", URL)
    add_trigger(db, "ws1", "custom_fields.arr", URL)
    watched = lambda: db.execute(
        "SELECT fields, custom_keys FROM contact_watched_fields WHERE workspace_id = 'ws1'"
    ).fetchone()
    assert watched() == (["stage"], ["arr"])
    db.execute("UPDATE triggers SET field = 'owner_id' WHERE id = %s", (first,))
    assert watched() == (["owner_id"], ["arr"])
    db.execute("UPDATE triggers SET active = false")
    assert watched() is None
    contact = add_contact(db, "ws1")
    set_stage(db, contact, "customer")
    assert changes(db) == []
