"""The users asset checks: all pass on a healthy worker run, and each fails with its measured
value and target when the target is out of reach; the lag check is judged in a run of its own,
with no worker running."""

import dagster as dg
import psycopg
import pytest

from sync_pipeline.defs.users.checks import RunFigures, error_rate_check
from sync_pipeline.defs.users.config import UsersSyncConfig
from sync_pipeline_tests.defs.users.conftest import (
    check_results,
    reconcile,
    request_ids,
    run_lag_check,
    run_worker,
    run_worker_for,
    stored_users,
    tick,
)

CHECKS = {"error_rate", "detail_throughput", "detail_coverage", "lag"}


def test_checks_pass_on_a_healthy_worker_run(users_env, instance):
    assert reconcile(instance, full_refresh=True).success
    cursor = tick(instance, None).cursor
    users_env.admin("mutate", {"source": "users", "update": 0.02})
    (request,) = tick(instance, cursor).run_requests

    checks = check_results(run_worker(instance, request))
    assert set(checks) == CHECKS
    assert all(c.passed for c in checks.values()), {
        n: c.metadata for n, c in checks.items() if not c.passed
    }
    throughput = checks["detail_throughput"].metadata
    assert throughput["judged"].value.startswith("no:"), "a handful of requests is all warm-up"
    assert checks["error_rate"].asset_key == dg.AssetKey("users_snapshot")
    assert checks["lag"].metadata["pending_changes"].value == 0
    lag = run_lag_check(instance)
    assert lag.passed and lag.metadata["pending_changes"].value == 0


def test_checks_fail_with_the_measured_value_when_targets_are_out_of_reach(
    users_env, db_url, instance, monkeypatch
):
    assert reconcile(instance, full_refresh=True).success
    cursor = tick(instance, None).cursor
    users_env.admin("mutate", {"source": "users", "update": 0.02})
    (left_pending,) = tick(instance, cursor).run_requests
    some_active = sorted(
        uid
        for uid, row in stored_users(db_url).items()
        if row["status"] == "active" and uid not in request_ids(left_pending)
    )[:12]
    with psycopg.connect(db_url.conninfo()) as conn:
        conn.execute("UPDATE users SET detail_synced_at = NULL WHERE id = %s", (some_active[-1],))
    monkeypatch.setenv("USERS_DETAIL_CONCURRENCY", "1")
    users_env.admin(
        "faults",
        {
            "source": "users",
            "endpoint": "users.detail",
            "latency_ms": [100, 100],
            "error_rate": 0.3,
        },
    )

    checks = check_results(
        run_worker_for(
            instance,
            some_active[:-1],
            max_error_rate=0.01,
            throughput_min_requests=5,
            max_backfill_eta_h=0.0,
        )
    )
    checks["lag"] = run_lag_check(instance, max_lag_s=0.0)
    assert not any(c.passed for c in checks.values())
    figures = {name: {k: v.value for k, v in c.metadata.items()} for name, c in checks.items()}
    assert (
        figures["error_rate"]["error_rate"] > figures["error_rate"]["target_max_error_rate"] == 0.01
    )
    throughput = figures["detail_throughput"]
    assert throughput["detail_rps"] < throughput["target_min_detail_rps"] == 0.9 * 500
    assert figures["lag"]["pending_changes"] == len(request_ids(left_pending))
    assert figures["lag"]["oldest_pending_s"] > figures["lag"]["target_max_lag_s"] == 0.0
    coverage = figures["detail_coverage"]
    assert (coverage["users_complete"], coverage["users_total"]) == (
        len(stored_users(db_url)) - 1,
        len(stored_users(db_url)),
    )
    assert (
        coverage["queue_fresh_changes"] == len(request_ids(left_pending))
        and coverage["queue_backfill"] == 0
    )
    assert coverage["queue_fresh_changes"] > 0
    assert coverage["backfill_eta_s"] == pytest.approx(coverage["queue_fresh_changes"] / 495)


def test_error_rate_passes_at_the_maximum_and_fails_above_it():
    config = UsersSyncConfig(max_error_rate=0.25)
    figures = {
        "detail_requests": 8,
        "detail_rps": 1.0,
        "detail_limit_rps": 10.0,
        "concurrent_runs": 1,
    }
    assert error_rate_check(RunFigures(requests=8, failed_attempts=2, **figures), config).passed
    assert not error_rate_check(RunFigures(requests=8, failed_attempts=3, **figures), config).passed
