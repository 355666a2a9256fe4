"""The reconcile (users_sync_job): a full refresh fills the table, a partition run repairs one
day, both through the detector's classification and the worker's write path."""

from datetime import UTC, datetime

import dagster as dg

from sync_pipeline.defs.users.jobs import users_daily_reconcile_schedule
from sync_pipeline_tests.defs.users.conftest import (
    USER_COUNT,
    business,
    materialization_metadata,
    reconcile,
    stored_users,
    upstream_users,
    xmins,
)


def test_full_refresh_fills_the_table_with_every_user_as_upstream_has_it(
    users_env, db_url, instance
):
    result = reconcile(instance, full_refresh=True)
    assert result.success
    stored = stored_users(db_url)
    assert business(stored) == business(upstream_users(users_env.url))
    assert materialization_metadata(result, "users_changes")["changed"] == USER_COUNT
    table = materialization_metadata(result, "users")
    assert (table["inserted"], table["live_rows"]) == (USER_COUNT, USER_COUNT)


def test_partition_reconcile_stores_exactly_the_changed_users(users_env, db_url, instance):
    assert reconcile(instance, full_refresh=True).success
    mutation = users_env.admin("mutate", {"source": "users", "update": 0.02, "touch": 0.05})
    updated, touched = set(mutation["updated"]), set(mutation["touched"])
    touched_before = xmins(db_url, touched)

    result = reconcile(instance, partition=mutation["updated_at"][:10])
    assert result.success
    changes = materialization_metadata(result, "users_changes")
    assert (
        changes["changed"] == len(updated) == materialization_metadata(result, "users")["updated"]
    )
    assert set(changes["changed_ids_sample"]) == updated
    assert changes["touch_only"] == len(touched)
    assert xmins(db_url, touched) == touched_before, "touch-only changes must not rewrite rows"
    assert business(stored_users(db_url)) == business(upstream_users(users_env.url))


def test_full_refresh_soft_deletes_the_users_the_list_no_longer_shows(users_env, db_url, instance):
    assert reconcile(instance, full_refresh=True).success
    deleted = set(users_env.admin("mutate", {"source": "users", "delete": 0.02})["deleted"])

    result = reconcile(instance, full_refresh=True)
    assert result.success
    assert materialization_metadata(result, "users_changes")["missing_from_list"] == len(deleted)
    assert materialization_metadata(result, "users")["soft_deleted"] == len(deleted)
    assert set(stored_users(db_url, live_only=False)) - set(stored_users(db_url)) == deleted
    gone = {
        uid: row for uid, row in stored_users(db_url, live_only=False).items() if uid in deleted
    }
    assert all(
        row["status"] == "deleted" and row["deleted_at"] is not None for row in gone.values()
    )


def test_the_daily_schedule_reconciles_yesterday():
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    )
    request = users_daily_reconcile_schedule(context)
    assert (request.partition_key, request.run_key) == ("2026-11-22", "users-reconcile-2026-11-22")
