"""The contacts pipeline against the reference upstream: a workspace's full and incremental
runs, touches ignored, and a synced stage change reaching the field-change log and the queue."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine.http import ApiClient, ClientConfig
from sync_pipeline.pipelines.contacts import ContactsSyncSettings, list_workspaces, sync_workspace
from sync_pipeline.workflows.dispatcher import dispatch_pending
from sync_pipeline_tests.pipelines import resume

SIZES = {
    "cars": 10,
    "users": 10,
    "stores": 1,
    "leaderboard_entries": 10,
    "contacts": 400,
    "workspaces": 2,
}
SMALL_PAGES = ContactsSyncSettings(page_size=50, batch_size=120)


@pytest.fixture
def crm(upstream_factory):
    return upstream_factory(sizes=SIZES)


@pytest.fixture
def pool(db_url):
    with open_pool(db_url, max_size=4, name="test_contacts") as opened:
        yield opened


def run(pool, crm, coroutine_of, rps: float | None = None):
    async def go():
        async with ApiClient(
            ClientConfig(base_url=crm.url, rps=rps, name="contacts"),
            limiter_conninfo=pool.conninfo,
        ) as client:
            return await coroutine_of(client)

    return asyncio.run(go())


def upstream_contacts(crm, workspace: str) -> dict[str, dict]:
    found, cursor = {}, None
    with httpx.Client(base_url=crm.url, timeout=30) as http:
        while True:
            params = {
                "workspace_id": workspace,
                "limit": 500,
                **({"cursor": cursor} if cursor else {}),
            }
            body = http.get("/contacts", params=params).json()
            found.update({c["id"]: c for c in body["data"]})
            if (cursor := body["next_cursor"]) is None:
                return found


def test_workspace_full_then_incremental_writes_only_real_changes(db, pool, crm):
    workspaces = run(pool, crm, list_workspaces)
    assert len(workspaces) == 2
    ws = workspaces[0]
    full = run(
        pool,
        crm,
        lambda c: sync_workspace(
            pool, c, ws, "run-1", ContactsSyncSettings(page_size=50, full_refresh=True)
        ),
    )
    expected = upstream_contacts(crm, ws)
    assert full.result.inserted == full.live_rows == len(expected) and full.pages > 1
    assert db.execute("SELECT count(DISTINCT workspace_id) FROM contacts").fetchone()[0] == 1

    mutation = crm.admin("mutate", {"source": "contacts", "update": 0.1, "touch": 0.2})
    after = upstream_contacts(crm, ws)
    changed = {
        i
        for i in after
        if after[i] != expected[i]
        and {k: v for k, v in after[i].items() if k != "updated_at"}
        != {k: v for k, v in expected[i].items() if k != "updated_at"}
    }
    assert changed and len(mutation["touched"]) > 0
    incremental = run(pool, crm, lambda c: sync_workspace(pool, c, ws, "run-2", SMALL_PAGES))
    assert incremental.since is not None and incremental.records < len(after)
    assert {str(k) for k in incremental.result.updated_keys} == changed
    assert incremental.result.inserted == 0 and incremental.field_changes == 0  # nothing watched


def test_synced_stage_change_is_logged_and_queued_for_matching_triggers(db, db_url, pool, crm):
    ws = run(pool, crm, list_workspaces)[0]
    db.execute(
        "INSERT INTO triggers (workspace_id, field, webhook_url) VALUES "
        "(%s, 'stage', 'http://127.0.0.1:9/hook'), (%s, 'email', 'http://127.0.0.1:9/hook')",
        (ws, ws),
    )
    run(
        pool,
        crm,
        lambda c: sync_workspace(pool, c, ws, "run-1", ContactsSyncSettings(full_refresh=True)),
    )
    before = upstream_contacts(crm, ws)
    crm.admin("mutate", {"source": "contacts", "update": 0.3, "touch": 0.3})
    after = upstream_contacts(crm, ws)
    stage_changes = {i for i in after if after[i]["stage"] != before[i]["stage"]}
    assert stage_changes
    outcome = run(pool, crm, lambda c: sync_workspace(pool, c, ws, "run-2", SMALL_PAGES))
    logged = db.execute(
        "SELECT contact_id::text, field, old_value, new_value FROM contact_field_changes"
    ).fetchall()
    assert {row[0] for row in logged} == stage_changes and {row[1] for row in logged} == {"stage"}
    assert all(old == before[c]["stage"] and new == after[c]["stage"] for c, _, old, new in logged)
    assert outcome.field_changes == len(stage_changes)
    assert asyncio.run(dispatch(db_url.conninfo())).queued == len(stage_changes)


async def dispatch(conninfo: str):
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        return await dispatch_pending(conn, 1000)


def test_a_retry_with_another_page_size_resumes_at_the_cursor_without_skips_or_repeats(
    db, db_url, pool, crm
):
    ws = run(pool, crm, list_workspaces)[0]
    partition = f"{ws}:full"

    def full_refresh(page_size: int, stop_after_pages: int | None = None):
        settings = ContactsSyncSettings(
            page_size=page_size, batch_size=page_size, full_refresh=True
        )

        def walk(client):
            synced = sync_workspace(pool, client, ws, f"run-{page_size}", settings)
            if stop_after_pages is None:
                return synced
            conninfo = db_url.conninfo()
            return resume.cancel_after_pages(
                synced, conninfo, "contacts", partition, stop_after_pages
            )

        return run(pool, crm, walk, rps=8.0 if stop_after_pages else None)

    assert full_refresh(10, stop_after_pages=2) is None
    page = resume.committed_page(db_url.conninfo(), "contacts", partition)
    done = db.execute("SELECT count(*) FROM contacts").fetchone()[0]
    expected = upstream_contacts(crm, ws)
    assert done == page * 10 and 2 <= page < len(expected) // 10, "stopped part-way"

    retry = full_refresh(25)
    assert retry.resumed and retry.resume_note.endswith(
        "written in pages of 10 resumed as is in pages of 25 (a cursor names a record)"
    )
    assert (retry.result.inserted, retry.result.unchanged) == (len(expected) - done, 0)
    assert retry.records == len(expected) - done, "nothing skipped, nothing fetched twice"
    stored = db.execute("SELECT id::text FROM contacts WHERE deleted_at IS NULL").fetchall()
    assert sorted(i for (i,) in stored) == sorted(expected)
    layout = db.execute(
        "SELECT layout FROM sync_checkpoints WHERE pipeline = 'contacts' AND partition = %s",
        (partition,),
    ).fetchone()[0]
    assert layout == {"page_size": 25, "order": "id", "params": {"workspace_id": ws}}
