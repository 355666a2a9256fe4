"""The worker job: stores exactly the users it is given, soft-deletes the ones that answer 404,
and a run cut off after some batches re-runs to the same table without duplicates."""

import threading
import time

import psycopg

from sync_pipeline_tests.defs.users.conftest import (
    business,
    materialization_metadata,
    pending,
    reconcile,
    request_ids,
    requested_ids,
    run_worker,
    run_worker_for,
    stored_users,
    tick,
    upstream_users,
    xmins,
)


def detected_changes(users_env, instance, mutation: dict):
    """Fill the table, settle the detector, apply `mutation` upstream, tick: (mutation, result)."""
    assert reconcile(instance, full_refresh=True).success
    cursor = tick(instance, None).cursor
    changed = users_env.admin("mutate", {"source": "users", **mutation})
    return changed, tick(instance, cursor)


def detail_requests(upstream) -> int:
    return upstream.admin("stats")["endpoints"]["users.detail"]["requests"]


def test_worker_runs_store_exactly_the_detected_users_and_clear_their_pending_changes(
    users_env, db_url, instance, monkeypatch
):
    monkeypatch.setenv("USERS_BATCH", "4")
    mutation, detection = detected_changes(users_env, instance, {"update": 0.03, "touch": 0.05})
    touched_before = xmins(db_url, mutation["touched"])
    requests_before = detail_requests(users_env)

    assert len(detection.run_requests) > 1
    for request in detection.run_requests:
        result = run_worker(instance, request)
        assert result.success
        assert materialization_metadata(result, "users")["updated"] == len(request_ids(request))
    assert detail_requests(users_env) - requests_before == len(mutation["updated"])
    assert pending(db_url) == {}
    assert business(stored_users(db_url)) == business(upstream_users(users_env.url))
    assert xmins(db_url, mutation["touched"]) == touched_before
    assert tick(instance, detection.cursor).run_requests == []


def test_a_user_whose_detail_answers_404_is_soft_deleted(users_env, db_url, instance):
    assert reconcile(instance, full_refresh=True).success
    deleted = users_env.admin("mutate", {"source": "users", "delete": 0.01})["deleted"]
    never_existed = 999_999_999
    alive = sorted(set(stored_users(db_url)) - set(deleted))[:3]

    result = run_worker_for(instance, deleted + alive + [never_existed])
    assert result.success
    table = materialization_metadata(result, "users")
    assert (table["not_found"], table["soft_deleted"]) == (len(deleted) + 1, len(deleted))
    rows = stored_users(db_url, live_only=False)
    assert never_existed not in rows
    assert all(
        rows[uid]["deleted_at"] is not None and rows[uid]["status"] == "deleted" for uid in deleted
    )
    assert all(rows[uid]["deleted_at"] is None for uid in alive)
    with psycopg.connect(db_url.conninfo()) as conn:
        logged = conn.execute(
            "SELECT count(*) FROM sync_change_log WHERE entity = 'users' AND run_id = %s "
            "AND column_name = 'deleted_at'",
            (result.run_id,),
        ).fetchone()[0]
    assert logged == len(deleted)


def test_a_404_without_user_not_found_fails_the_run_and_deletes_nothing(
    users_env, db_url, instance, monkeypatch
):
    assert reconcile(instance, full_refresh=True).success
    monkeypatch.setenv("SYNC_USERS_API_URL", f"{users_env.url}/v2")
    some = sorted(stored_users(db_url))[:3]

    result = run_worker_for(instance, some)
    assert not result.success
    assert len(stored_users(db_url)) == len(stored_users(db_url, live_only=False))


def test_a_run_cut_off_mid_way_re_runs_without_duplicates_or_repeated_detail_calls(
    users_env, db_url, instance, monkeypatch
):
    mutation, detection = detected_changes(users_env, instance, {"update": 0.05})
    monkeypatch.setenv("USERS_DETAIL_RPS", "4")
    monkeypatch.setenv("USERS_DETAIL_CONCURRENCY", "1")
    (request,) = detection.run_requests
    updated = set(mutation["updated"])
    first_batch_stored = threading.Event()

    def fail_the_upstream_after_the_first_batch() -> None:
        with psycopg.connect(db_url.conninfo(), autocommit=True) as conn:
            while not first_batch_stored.is_set():
                if conn.execute("SELECT count(*) FROM users_pending_changes").fetchone()[0] < len(
                    updated
                ):
                    users_env.admin("faults", {"source": "users", "error_rate": 1.0})
                    first_batch_stored.set()
                time.sleep(0.02)

    failer = threading.Thread(target=fail_the_upstream_after_the_first_batch)
    failer.start()
    try:
        cut_off = run_worker(instance, _with_config(request, write_batch=3), detail_attempts=1)
    finally:
        first_batch_stored.set()
        failer.join()
    assert not cut_off.success
    stored_before_rerun = len(updated) - len(pending(db_url))
    assert 0 < stored_before_rerun < len(updated)

    users_env.admin("faults", {"source": "users", "profile": "none"})
    monkeypatch.setenv("USERS_DETAIL_RPS", "500")
    requests_before = detail_requests(users_env)
    rerun = run_worker(instance, _with_config(request, write_batch=5))  # another batch size
    assert rerun.success
    table = materialization_metadata(rerun, "users")
    assert (table["resumed_after"], table["resume_note"]) == (stored_before_rerun, "")
    assert detail_requests(users_env) - requests_before == len(updated) - stored_before_rerun
    assert pending(db_url) == {}
    assert business(stored_users(db_url)) == business(upstream_users(users_env.url))
    with psycopg.connect(db_url.conninfo()) as conn:
        assert conn.execute("SELECT count(*) - count(DISTINCT id) FROM users").fetchone()[0] == 0


def _with_config(request, **config):
    """`request` with more step config (what a re-execution from the launchpad may change)."""
    step = request.run_config["ops"]["users_sync"]["config"]
    return request.with_replaced_attrs(
        run_config={"ops": {"users_sync": {"config": {**step, **config}}}}
    )


def test_a_user_changed_again_before_its_run_is_stored_in_its_latest_version(
    users_env, db_url, instance
):
    first, detection = detected_changes(users_env, instance, {"update": 0.05})
    again = users_env.admin("mutate", {"source": "users", "update": 0.05})
    both = set(first["updated"]) & set(again["updated"])
    later = tick(instance, detection.cursor)
    assert sorted(requested_ids(later)) == sorted(again["updated"])

    for request in detection.run_requests + later.run_requests:
        assert run_worker(instance, request).success
    assert pending(db_url) == {}
    assert business(stored_users(db_url)) == business(upstream_users(users_env.url))
    assert both <= set(requested_ids(detection)) & set(requested_ids(later))


def test_a_nul_in_a_name_is_stripped_stored_and_not_asked_for_again(users_env, db_url, instance):
    """PostgreSQL text cannot hold U+0000: the value loads without it, counted, and the sanitized
    fingerprint keeps the user unchanged on the next tick."""
    users_env.admin("faults", {"source": "users", "data_oddities": True})
    upstream = upstream_users(users_env.url)
    with_nul = {uid for uid, user in upstream.items() if "\x00" in (user.get("name") or "")}
    assert with_nul, "the seed-1 data holds a user whose name contains a NUL character"

    result = reconcile(instance, full_refresh=True)
    assert result.success
    assert materialization_metadata(result, "users")["sanitized_values"] >= len(with_nul)
    stored = stored_users(db_url)
    assert set(stored) == set(upstream)
    for uid in with_nul:
        assert stored[uid]["name"] == upstream[uid]["name"].replace("\x00", "")
    assert requested_ids(tick(instance, None)) == []
    with psycopg.connect(db_url.conninfo()) as conn:
        assert conn.execute(
            "SELECT count(*) FROM sync_quarantine WHERE entity = 'users'"
        ).fetchone() == (0,)


def test_a_hostile_upstream_still_ends_in_the_upstream_s_users(users_env, db_url, instance):
    """Storms, 5xx, timeouts, dropped and malformed bodies, shifted pages, odd records, and users
    that vanish when their detail is fetched: the table still ends equal to the upstream."""
    listed_before = set(upstream_users(users_env.url))
    users_env.admin(
        "faults",
        {
            "source": "users",
            "profile": "hostile",
            "rps": None,
            "timeout_s": 0.5,
            "storm_rate": 0.005,
            "vanishing_users": 0.03,
        },
    )
    faults_expected = {"max_error_rate": 1.0}
    assert reconcile(instance, full_refresh=True, **faults_expected).success
    cursor = tick(instance, None).cursor
    users_env.admin("mutate", {"source": "users", "update": 0.05})
    for request in tick(instance, cursor).run_requests:
        assert run_worker(instance, _with_config(request, **faults_expected)).success

    users_env.admin("faults", {"source": "users", "profile": "none", "data_oddities": True})
    upstream = upstream_users(users_env.url)
    assert listed_before - set(upstream), "some users vanished when their detail was fetched"
    with psycopg.connect(db_url.conninfo()) as conn:
        unstorable = {
            int(k) for (k,) in conn.execute("SELECT DISTINCT record_key FROM sync_quarantine")
        }
    expected = {uid: _without_nul(user) for uid, user in upstream.items() if uid not in unstorable}
    assert business(stored_users(db_url)) == business(expected)


def _without_nul(user: dict) -> dict:
    """`user` as PostgreSQL can store it: U+0000 stripped from its top-level strings."""
    return {
        name: value.replace("\x00", "") if isinstance(value, str) else value
        for name, value in user.items()
    }
