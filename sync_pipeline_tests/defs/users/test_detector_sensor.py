"""The detector sensor evaluated with `build_sensor_context` on a real instance, against the real
upstream and PostgreSQL: it asks for worker runs for exactly the users whose summary changed."""

import json

import dagster as dg
import psycopg

from sync_pipeline_tests.defs.users.conftest import (
    TODAY,
    pending,
    reconcile,
    request_ids,
    requested_ids,
    tick,
)


def settled(users_env, instance) -> str:
    """A filled table and the cursor of a first tick that found nothing to do."""
    assert reconcile(instance, full_refresh=True).success
    first = tick(instance, None)
    assert not first.run_requests
    return first.cursor


def test_touch_only_changes_request_nothing(users_env, db_url, instance):
    cursor = settled(users_env, instance)
    touched = users_env.admin("mutate", {"source": "users", "touch": 0.05})["touched"]

    result = tick(instance, cursor)
    assert result.run_requests == []
    assert isinstance(result.skip_reason, dg.SkipReason)
    assert f"{len(touched)} users seen" in result.skip_reason.skip_message
    assert f"{len(touched)} touch-only" in result.skip_reason.skip_message
    assert pending(db_url) == {}


def test_real_changes_request_runs_with_exactly_those_ids_and_the_cursor_advances(
    users_env, db_url, instance
):
    cursor = settled(users_env, instance)
    mutation = users_env.admin("mutate", {"source": "users", "update": 0.02, "touch": 0.05})

    result = tick(instance, cursor)
    assert sorted(requested_ids(result)) == sorted(mutation["updated"])
    assert set(pending(db_url)) == set(mutation["updated"])
    (request,) = result.run_requests
    assert request.partition_key == TODAY == mutation["updated_at"][:10]
    assert request.tags["sync_pipeline/upstream"] == "users" and request.run_key
    assert request.run_config["ops"]["users_sync"]["config"]["request_key"] == request.run_key
    before, after = json.loads(cursor), json.loads(result.cursor)
    assert (
        after["tick"] == before["tick"] + 1
        and after["hwm"] > before["hwm"] >= mutation["updated_at"][:10]
    )


def test_a_repeated_tick_requests_nothing_new_and_a_re_evaluated_one_the_same_runs(
    users_env, db_url, instance
):
    cursor = settled(users_env, instance)
    users_env.admin("mutate", {"source": "users", "update": 0.02})
    first = tick(instance, cursor)
    assert first.run_requests

    following = tick(instance, first.cursor)
    assert following.run_requests == []
    assert f"{len(requested_ids(first))} already requested" in following.skip_reason.skip_message

    again = tick(instance, cursor)
    assert [(r.run_key, request_ids(r)) for r in again.run_requests] == [
        (r.run_key, request_ids(r)) for r in first.run_requests
    ]


def test_many_changes_split_into_runs_of_at_most_users_batch_ids(
    users_env, db_url, instance, monkeypatch
):
    cursor = settled(users_env, instance)
    monkeypatch.setenv("USERS_BATCH", "7")
    updated = users_env.admin("mutate", {"source": "users", "update": 0.1})["updated"]

    result = tick(instance, cursor)
    sizes = [len(request_ids(r)) for r in result.run_requests]
    assert sizes == [7] * (len(updated) // 7) + ([len(updated) % 7] if len(updated) % 7 else [])
    assert sorted(requested_ids(result)) == sorted(updated)
    assert len({r.run_key for r in result.run_requests}) == len(result.run_requests)


def test_a_tick_reads_a_bounded_window_and_the_next_one_goes_on(
    users_env, db_url, instance, monkeypatch
):
    cursor = settled(users_env, instance)
    monkeypatch.setenv("USERS_PAGE_SIZE", "20")
    monkeypatch.setenv("USERS_DETECTOR_MAX_PAGES", "1")
    first_burst = users_env.admin("mutate", {"source": "users", "update": 0.1})
    second_burst = users_env.admin("mutate", {"source": "users", "update": 0.1})
    assert first_burst["updated_at"] < second_burst["updated_at"]

    first = tick(instance, cursor)
    assert sorted(requested_ids(first)) == sorted(
        set(first_burst["updated"]) - set(second_burst["updated"])
    )
    assert json.loads(first.cursor)["hwm"] == second_burst["updated_at"]

    second = tick(instance, first.cursor)
    assert sorted(requested_ids(second)) == sorted(second_burst["updated"])


def test_a_fresh_detector_on_a_filled_table_asks_for_every_user_it_has_not_stored(
    users_env, db_url, instance
):
    assert reconcile(instance, full_refresh=True).success
    with psycopg.connect(db_url.conninfo()) as conn:
        removed = [
            uid
            for (uid,) in conn.execute(
                "DELETE FROM users WHERE id IN (SELECT id FROM users ORDER BY id "
                "LIMIT 5) RETURNING id"
            )
        ]
    result = tick(instance, None)
    assert sorted(requested_ids(result)) == sorted(removed) == sorted(pending(db_url))
