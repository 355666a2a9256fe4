"""The cars pipeline end to end through Dagster, against the real upstream and PostgreSQL."""

import psycopg
from datetime import datetime, timezone

from sync_pipeline_tests.defs.cars.conftest import (
    CAR_COUNT,
    check_results,
    materialization_metadata,
    run_cars,
)
from sync_pipeline_tests.defs.cars.upstream_compare import business_fields, stored_cars, upstream_cars

TODAY = datetime.now(timezone.utc).strftime("%Y-%m-%d")


def xmins(db_url, ids) -> dict[int, str]:
    with psycopg.connect(db_url.conninfo()) as conn:
        return dict(conn.execute("SELECT id, xmin::text FROM cars WHERE id = ANY(%s)", (list(ids),)).fetchall())


def test_full_refresh_equals_upstream_row_for_row(cars_env, db_url, instance):
    result = run_cars(instance, full_refresh=True)
    assert result.success
    assert stored_cars(db_url.conninfo()) == upstream_cars(cars_env.url)
    changes = materialization_metadata(result, "cars_changes")
    assert changes["inserted"] == CAR_COUNT and changes["updated"] == 0
    assert materialization_metadata(result, "cars")["live_rows"] == CAR_COUNT


def test_incremental_picks_up_exactly_the_updated_ids_and_touches_write_nothing(cars_env, db_url, instance):
    assert run_cars(instance, full_refresh=True).success
    mutation = cars_env.admin("mutate", {"source": "cars", "update": 0.01, "touch": 0.05})
    updated, touched = set(mutation["updated"]), set(mutation["touched"])
    assert len(updated) == CAR_COUNT // 100 and len(touched) == CAR_COUNT * 5 // 100
    touched_before = xmins(db_url, touched)

    result = run_cars(instance, partition=TODAY)
    assert result.success
    changes = materialization_metadata(result, "cars_changes")
    assert changes["updated"] == len(updated)
    assert set(changes["changed_ids_sample"]) <= updated
    assert changes["unchanged"] == len(touched)
    assert xmins(db_url, touched) == touched_before, "touch-only changes must not rewrite rows"

    with psycopg.connect(db_url.conninfo()) as conn:
        logged = {int(k) for (k,) in conn.execute(
            "SELECT DISTINCT record_key FROM sync_change_log WHERE run_id = %s", (result.run_id,))}
    assert logged == updated
    assert business_fields(stored_cars(db_url.conninfo())) == business_fields(upstream_cars(cars_env.url))


def test_only_a_full_refresh_delists(cars_env, db_url, instance):
    assert run_cars(instance, full_refresh=True).success
    deleted = set(cars_env.admin("mutate", {"source": "cars", "delete": 0.002})["deleted"])
    assert deleted

    assert run_cars(instance, partition=TODAY).success
    assert deleted <= set(stored_cars(db_url.conninfo())), "an incremental run cannot see deletions"

    result = run_cars(instance, full_refresh=True)
    assert result.success
    assert materialization_metadata(result, "cars_changes")["delisted"] == len(deleted)
    live = stored_cars(db_url.conninfo())
    assert not deleted & set(live)
    with psycopg.connect(db_url.conninfo()) as conn:
        kept = conn.execute("SELECT count(*) FROM cars WHERE id = ANY(%s) AND deleted_at IS NOT NULL",
                            (list(deleted),)).fetchone()[0]
    assert kept == len(deleted), "delisted cars are soft-deleted, never removed"
    assert business_fields(live) == business_fields(upstream_cars(cars_env.url))


def test_checks_pass_on_a_healthy_run(cars_env, instance):
    result = run_cars(instance, full_refresh=True)
    checks = check_results(result)
    assert set(checks) == {"throughput", "error_rate", "reconciliation", "no_duplicates", "runtime_budget"}
    assert all(c.passed for c in checks.values()), {n: c.metadata for n, c in checks.items() if not c.passed}


def test_checks_fail_with_the_measured_number_when_targets_are_out_of_reach(cars_env, instance):
    result = run_cars(instance, full_refresh=True, page_size=100, min_rows_per_s=1e9, runtime_budget_s=0.001,
                      max_error_rate=0.0)
    checks = check_results(result)
    throughput = checks["throughput"]
    assert not throughput.passed
    assert throughput.metadata["target_rows_per_s"].value == 1e9
    assert 0 < throughput.metadata["rows_per_s"].value < 1e9
    assert not checks["runtime_budget"].passed
    assert checks["runtime_budget"].metadata["elapsed_s"].value > 0.001
    assert not checks["error_rate"].passed, "0 errors is not below a maximum of 0"
    assert checks["reconciliation"].passed and checks["no_duplicates"].passed
