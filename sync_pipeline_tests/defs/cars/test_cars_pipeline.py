"""The cars pipeline end to end through Dagster, against the real upstream and PostgreSQL."""

from datetime import UTC, datetime
from types import SimpleNamespace

import dagster as dg
import psycopg

from sync_pipeline.db.pool import open_pool
from sync_pipeline.defs.cars.checks import (
    duplicates_check,
    error_rate_check,
    quarantine_share_check,
)
from sync_pipeline.defs.cars.config import CarsSyncConfig
from sync_pipeline_tests.defs.cars.conftest import (
    CAR_COUNT,
    check_results,
    materialization_metadata,
    run_cars,
)
from sync_pipeline_tests.defs.cars.upstream_compare import (
    business_fields,
    stored_cars,
    upstream_cars,
)

TODAY = datetime.now(UTC).strftime("%Y-%m-%d")


def xmins(db_url, ids) -> dict[int, str]:
    with psycopg.connect(db_url.conninfo()) as conn:
        return dict(
            conn.execute(
                "SELECT id, xmin::text FROM cars WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        )


def test_full_refresh_equals_upstream_row_for_row(cars_env, db_url, instance):
    result = run_cars(instance, full_refresh=True)
    assert result.success
    assert stored_cars(db_url.conninfo()) == upstream_cars(cars_env.url)
    changes = materialization_metadata(result, "cars_changes")
    assert changes["inserted"] == CAR_COUNT and changes["updated"] == 0
    assert materialization_metadata(result, "cars")["live_rows"] == CAR_COUNT


def test_incremental_picks_up_exactly_the_updated_ids_and_touches_write_nothing(
    cars_env, db_url, instance
):
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
        logged = {
            int(k)
            for (k,) in conn.execute(
                "SELECT DISTINCT record_key FROM sync_change_log WHERE run_id = %s",
                (result.run_id,),
            )
        }
    assert logged == updated
    assert business_fields(stored_cars(db_url.conninfo())) == business_fields(
        upstream_cars(cars_env.url)
    )


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
        kept = conn.execute(
            "SELECT count(*) FROM cars WHERE id = ANY(%s) AND deleted_at IS NOT NULL",
            (list(deleted),),
        ).fetchone()[0]
    assert kept == len(deleted), "delisted cars are soft-deleted, never removed"
    assert business_fields(live) == business_fields(upstream_cars(cars_env.url))


def test_checks_pass_on_a_healthy_run(cars_env, instance):
    # RPS=500 stands for "no limit" here; the default target (half of it) is for a limit that binds.
    result = run_cars(instance, full_refresh=True, min_pages_per_s=10.0)
    checks = check_results(result)
    assert checks["throughput"].metadata["judged"].value == "yes"
    assert checks["throughput"].metadata["target_rows_per_s"].value == 10.0 * 250
    assert set(checks) == {
        "throughput",
        "error_rate",
        "reconciliation",
        "quarantine_share",
        "no_duplicates",
        "runtime_budget",
    }
    assert all(c.passed for c in checks.values()), {
        n: c.metadata for n, c in checks.items() if not c.passed
    }


def test_checks_fail_with_the_measured_number_when_targets_are_out_of_reach(
    cars_env, db_url, instance
):
    result = run_cars(
        instance,
        full_refresh=True,
        page_size=100,
        min_rows_per_s=1e9,
        runtime_budget_s=0.001,
        max_error_rate=0.0,
    )
    checks = check_results(result)
    throughput = checks["throughput"]
    assert not throughput.passed
    assert throughput.metadata["target_rows_per_s"].value == 1e9
    assert 0 < throughput.metadata["rows_per_s"].value < 1e9
    assert not checks["runtime_budget"].passed
    assert checks["runtime_budget"].metadata["elapsed_s"].value > 0.001
    assert checks["error_rate"].passed, "0 errors meet a maximum of 0"
    assert checks["reconciliation"].passed and checks["no_duplicates"].passed

    with psycopg.connect(db_url.conninfo()) as conn:  # a second live listing of one car's vin
        conn.execute(
            "INSERT INTO cars "
            "SELECT (jsonb_populate_record(c, jsonb_build_object('id', c.id + 10000000))).* "
            "FROM cars c WHERE deleted_at IS NULL AND vin IS NOT NULL ORDER BY id LIMIT 1"
        )
    with open_pool(db_url, max_size=1) as pool:
        duplicates = duplicates_check(pool)
    assert not duplicates.passed
    assert duplicates.metadata["duplicate_vins"].value == 1


def test_error_rate_checks_pass_at_the_maximum_and_fail_above_it():
    at_most = CarsSyncConfig(max_error_rate=0.25)
    at = SimpleNamespace(error_rate=0.25, http={"requests": 8, "retries": 2})
    above = SimpleNamespace(error_rate=0.375, http={"requests": 8, "retries": 3})
    assert error_rate_check(at, at_most).passed
    assert not error_rate_check(above, at_most).passed


def test_odd_records_load_sanitized_and_quarantined_ones_are_accounted_for(cars_env, instance):
    cars_env.admin("faults", {"source": "cars", "data_oddities": True})
    result = run_cars(instance, full_refresh=True)
    assert result.success, "a quarantine share under 1% warns, it does not fail the run"
    changes = materialization_metadata(result, "cars_changes")
    assert changes["sanitized_values"] > 0 and changes["quarantined"] > 0
    checks = check_results(result)
    reconciliation = checks["reconciliation"]
    assert reconciliation.passed, reconciliation.metadata
    live = reconciliation.metadata["live_rows"].value
    assert live + changes["quarantined"] == CAR_COUNT
    assert reconciliation.metadata["upstream_total"].value == CAR_COUNT
    share = checks["quarantine_share"]
    assert not share.passed and share.severity == dg.AssetCheckSeverity.WARN
    assert share.metadata["quarantine_share"].value == changes["quarantined"] / CAR_COUNT

    again = run_cars(instance, full_refresh=True)
    unchanged = materialization_metadata(again, "cars_changes")
    assert unchanged["updated"] == 0, "sanitized values stay unchanged"


def test_a_quarantine_share_above_one_percent_is_an_error():
    def outcome(quarantined: int):
        return SimpleNamespace(
            quarantine_share=quarantined / 1000,
            walk=SimpleNamespace(records=1000),
            result=SimpleNamespace(quarantined=quarantined),
        )

    assert quarantine_share_check(outcome(0)).passed
    at_one_percent = quarantine_share_check(outcome(10))
    assert not at_one_percent.passed and at_one_percent.severity == dg.AssetCheckSeverity.WARN
    above = quarantine_share_check(outcome(11))
    assert not above.passed and above.severity == dg.AssetCheckSeverity.ERROR
