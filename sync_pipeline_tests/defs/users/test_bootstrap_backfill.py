"""A fresh install: every user from the list at once, details pending, filled in by bounded
backfill runs (most recently active first) that fresh changes overtake; coverage and ETA in the
`users` metadata and check."""

import asyncio
import io
import threading

import dagster as dg
import psycopg
import pytest

from sync_pipeline.db.pool import open_pool
from sync_pipeline.definitions import defs
from sync_pipeline.defs.users.sensors import backfill_run_request, users_detail_backfill
from sync_pipeline.engine.http import ApiClient, ClientConfig
from sync_pipeline.pipelines.users.backfill import FreshChangesFirst
from sync_pipeline.pipelines.users.progress import DetailProgress
from sync_pipeline_tests.defs.users.conftest import (
    USER_COUNT,
    business,
    check_results,
    materialization_metadata,
    pending,
    reconcile,
    requested_ids,
    run_lag_check,
    run_worker,
    stored_users,
    tick,
    upstream_users,
)

SUMMARY = ("email", "name", "status", "plan", "team_id")
DETAIL = ("profile", "settings", "roles", "addresses")
PACE = 500 * (1 - 0.01)
"""USERS_DETAIL_RPS (500 in these tests) less the detail client's headroom."""


def detail_requests(upstream) -> int:
    return upstream.admin("stats")["endpoints"].get("users.detail", {}).get("requests", 0)


def backfill_tick(instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    ) as context:
        return users_detail_backfill(context)


def test_a_fresh_detector_bootstraps_every_user_from_the_list_with_details_pending(
    users_env, db_url, instance
):
    result = tick(instance, None)

    assert result.run_requests == [] and "bootstrap" in result.skip_reason.skip_message
    assert detail_requests(users_env) == 0
    rows = stored_users(db_url)
    upstream = upstream_users(users_env.url)
    assert len(rows) == USER_COUNT == len(upstream)
    assert {uid: tuple(r[f] for f in SUMMARY) for uid, r in rows.items()} == {
        uid: tuple(u[f] for f in SUMMARY) for uid, u in upstream.items()
    }
    assert all(
        r["detail_synced_at"] is None and all(r[f] is None for f in DETAIL) for r in rows.values()
    )
    queued = pending(db_url)
    assert set(queued) == set(rows) and {p["priority"] for p in queued.values()} == {1}

    users_env.admin("mutate", {"source": "users", "touch": 0.05})
    assert tick(instance, result.cursor).run_requests == []
    assert len(pending(db_url)) == USER_COUNT, "a touch does not take a user out of the backfill"

    with psycopg.connect(db_url.conninfo()) as conn:
        conn.execute("TRUNCATE users, users_pending_changes")
    again = tick(instance, result.cursor)
    assert again.run_requests == [] and "bootstrap" in again.skip_reason.skip_message
    assert len(stored_users(db_url)) == len(pending(db_url)) == USER_COUNT, (
        "an emptied table is bootstrapped again, whatever the cursor"
    )


def test_a_first_sync_of_one_day_bootstraps_every_user_and_the_backfill_fills_in_the_most_recent_first(  # noqa: E501
    users_env, db_url, instance
):
    first = reconcile(instance, bootstrap_empty=True)
    assert first.success
    lag = run_lag_check(instance, max_lag_s=0.0)
    assert lag.passed and lag.metadata["pending_changes"].value == 0, "backfill items are no lag"
    table = materialization_metadata(first, "users")
    assert (table["users_total"], table["users_complete"], table["queue_backfill"]) == (
        USER_COUNT,
        0,
        USER_COUNT,
    )
    assert table["eta_at_detail_rps"] == pytest.approx(PACE), "the limit less the 1% headroom"
    assert table["backfill_eta_s"] == pytest.approx(USER_COUNT / PACE)
    assert detail_requests(users_env) == 0

    sensed = backfill_tick(instance)
    (request,) = sensed.run_requests
    assert request.run_config["ops"]["users_sync"]["config"]["backfill"] == 200
    backfill = run_worker(instance, backfill_run_request(1, 100))
    assert backfill.success
    table = materialization_metadata(backfill, "users")
    assert (table["details_fetched"], table["users_complete"], table["queue_backfill"]) == (
        100,
        100,
        USER_COUNT - 100,
    )
    assert table["detail_coverage"] == 100 / USER_COUNT
    assert table["backfill_eta_s"] == pytest.approx((USER_COUNT - 100) / PACE)
    assert table["diffs_logged"] == 0, "filling in a detail is not a change"
    checks = check_results(backfill)
    assert checks["detail_coverage"].passed
    assert checks["detail_coverage"].metadata["queue_backfill"].value == USER_COUNT - 100

    rows = stored_users(db_url)
    complete = {uid for uid, r in rows.items() if r["detail_synced_at"] is not None}
    by_activity = sorted(rows, key=lambda uid: (-rows[uid]["last_seen_at"].timestamp(), uid))
    assert complete == set(by_activity[:100])

    assert run_worker(instance, backfill_run_request(2, 500)).success
    assert pending(db_url) == {}
    assert business(stored_users(db_url)) == business(upstream_users(users_env.url))
    assert backfill_tick(instance, sensed.cursor).run_requests == []


def test_a_backfill_item_whose_user_changed_before_the_detector_saw_it_is_done_once_stored(
    users_env, db_url, instance
):
    bootstrap = tick(instance, None)
    updated = users_env.admin("mutate", {"source": "users", "update": 0.02})["updated"]

    assert run_worker(instance, backfill_run_request(1, USER_COUNT)).success

    assert pending(db_url) == {}, "every detail is stored: no backfill item is left behind"
    assert business(stored_users(db_url)) == business(upstream_users(users_env.url))
    assert backfill_tick(instance).run_requests == []
    detection = tick(instance, bootstrap.cursor)
    assert detection.run_requests == []
    assert f"touch-only, {len(updated)} unchanged" in detection.skip_reason.skip_message
    assert pending(db_url) == {}


def test_a_fresh_change_overtakes_a_queued_backfill(users_env, db_url, instance, monkeypatch):
    bootstrap = tick(instance, None)
    monkeypatch.setenv("USERS_DETAIL_RPS", "25")
    backfill_done = threading.Event()
    outcome = {}

    def backfill() -> None:
        outcome["result"] = run_worker(instance, backfill_run_request(1, 100))
        backfill_done.set()

    runner = threading.Thread(target=backfill)
    runner.start()
    try:
        updated = users_env.admin("mutate", {"source": "users", "update": 0.01})["updated"]
        detection = tick(instance, bootstrap.cursor)
        assert sorted(requested_ids(detection)) == sorted(updated)
        assert {pending(db_url)[uid]["priority"] for uid in updated} == {0}
        for request in detection.run_requests:
            assert run_worker(instance, request).success
        assert not backfill_done.is_set(), "the fresh change did not wait for the backfill"
        rows = stored_users(db_url)
        assert all(rows[uid]["detail_synced_at"] is not None for uid in updated)
        assert sum(r["detail_synced_at"] is None for r in rows.values()) > 0
    finally:
        runner.join()
    assert outcome["result"].success
    assert materialization_metadata(outcome["result"], "users")["yielded_to_fresh_changes_s"] > 0
    upstream = business(upstream_users(users_env.url))
    assert business({uid: row for uid, row in stored_users(db_url).items() if uid in updated}) == {
        uid: upstream[uid] for uid in updated
    }


def test_the_backfill_takes_no_slot_while_a_fresh_change_waits_for_one_unless_it_stalls(db_url):
    with open_pool(db_url, max_size=2, name="test_fresh_first") as pool, pool.connection() as conn:
        conn.execute(
            "INSERT INTO users_pending_changes (id, summary_fingerprint, requested_tick, run_key) "
            "VALUES (1, %s, 1, 'k')",
            (bytes(16),),
        )
        conn.commit()
        patient = FreshChangesFirst(pool, stall_s=60.0, poll_s=0.02)
        with pytest.raises(TimeoutError):
            asyncio.run(asyncio.wait_for(patient.wait_turn(), 0.3))
        conn.execute("UPDATE users_pending_changes SET sent_at = now()")
        conn.commit()
        asyncio.run(asyncio.wait_for(patient.wait_turn(), 1.0))
        assert patient.yields == 0

        conn.execute("UPDATE users_pending_changes SET sent_at = NULL")
        conn.commit()
        stalled = FreshChangesFirst(pool, stall_s=0.2, poll_s=0.02)
        asyncio.run(asyncio.wait_for(stalled.wait_turn(), 2.0))
        assert stalled.yields == 1 and stalled.yielded_s >= 0.2


def test_field_diffs_are_logged_for_a_detail_change_and_none_for_a_touch(
    users_env, db_url, instance
):
    assert reconcile(instance, full_refresh=True).success
    cursor = tick(instance, None).cursor
    before = stored_users(db_url)
    mutation = users_env.admin("mutate", {"source": "users", "update": 0.01, "touch": 0.02})
    detection = tick(instance, cursor)
    (request,) = detection.run_requests
    changed = run_worker(instance, request)
    assert changed.success

    after = stored_users(db_url)
    with psycopg.connect(db_url.conninfo()) as conn:
        logged = conn.execute(
            "SELECT record_key::bigint, column_name, old_value, new_value FROM sync_change_log "
            "WHERE entity = 'users' AND run_id = %s",
            (changed.run_id,),
        ).fetchall()
    expected = {
        (uid, column)
        for uid in mutation["updated"]
        for column in SUMMARY + DETAIL
        if before[uid][column] != after[uid][column]
    }
    assert {(uid, column) for uid, column, _, _ in logged} == expected and expected
    assert all(
        old == _json(before[uid][c]) and new == _json(after[uid][c]) for uid, c, old, new in logged
    )
    assert materialization_metadata(changed, "users")["diffs_logged"] == len(logged)

    touched = run_worker(instance, _worker_request(mutation["touched"]))
    assert touched.success and materialization_metadata(touched, "users")["updated"] == 0
    with psycopg.connect(db_url.conninfo()) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM sync_change_log WHERE run_id = %s", (touched.run_id,)
            ).fetchone()[0]
            == 0
        )


def _worker_request(ids: list[int]) -> dg.RunRequest:
    request = backfill_run_request(0, 1)
    return request.with_replaced_attrs(run_config={"ops": {"users_sync": {"config": {"ids": ids}}}})


def _json(value):
    """A stored column value as the change log's jsonb reads back."""
    return value.isoformat() if hasattr(value, "isoformat") else value


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_detail_progress_bar_shows_done_total_pace_and_eta_on_a_terminal():
    async def draw() -> str:
        terminal = Terminal()
        async with ApiClient(
            ClientConfig(base_url="http://127.0.0.1:9", rps=0.25, rate_headroom=0.0)
        ) as client:
            fetched = {"n": 2}
            async with DetailProgress(client, 8, lambda: fetched["n"], stream=terminal):
                await asyncio.sleep(0.3)
        return terminal.getvalue()

    drawn = asyncio.run(draw())
    assert "\r" in drawn and "2/8" in drawn and "900/h" in drawn
    assert "ETA 24s" in drawn, "before a pace is known, 6 details at the limit of 0.25/s"


def test_the_detector_and_the_backfill_sensor_are_on_by_default():
    for name in ("users_change_detector", "users_detail_backfill"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
