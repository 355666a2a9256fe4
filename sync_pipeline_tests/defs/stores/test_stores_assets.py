"""The stores source through Dagster, against the real reference upstream and PostgreSQL."""

import json

import dagster as dg
import psycopg

from sync_pipeline.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sync_pipeline.definitions import defs
from sync_pipeline.defs.stores.assets import RESULT_TAG
from sync_pipeline.defs.stores.partitions import registered_store_codes
from sync_pipeline_tests.defs.stores.conftest import (
    SMALL_SIZES,
    STORE_COUNT,
    materialized,
    run_list,
    run_stores,
    store_materializations,
    upstream_records,
)
from sync_pipeline_tests.run_results import check_results


def count(db_url, query: str, *params) -> int:
    with psycopg.connect(db_url.conninfo()) as conn:
        return conn.execute(query, params).fetchone()[0]


def test_all_stores_in_one_run_equal_upstream_and_a_resync_writes_nothing(
    stores_env, stores_upstream, db_url, instance
):
    upstream = stores_env(stores_upstream)
    codes = sorted(s["code"] for s in upstream_records(upstream, "/stores"))
    assert run_list(instance).success
    assert sorted(registered_store_codes(instance)) == codes

    first = run_stores(instance)
    assert first.success
    assert first.dagster_run.tags[RESULT_TAG] == f"{STORE_COUNT} of {STORE_COUNT} stores"
    for job, kind in (("store_users", "users"), ("store_videos", "videos")):
        expected = sum(len(upstream_records(upstream, f"/stores/{c}/{kind}")) for c in codes)
        assert count(db_url, f"SELECT count(*) FROM {job} WHERE deleted_at IS NULL") == expected
        for layer in (f"{job}_snapshot", f"{job}_changes", job):
            assert materialized(instance, layer) == set(codes)
        inserted = store_materializations(first, f"{job}_changes")
        assert sum(m["inserted"] for m in inserted.values()) == expected
    checks = check_results(first)
    assert all(c.passed for c in checks.values()), {n: c.passed for n, c in checks.items()}

    log_rows = count(db_url, "SELECT count(*) FROM sync_change_log")
    again = run_stores(instance)
    assert again.success
    for job in ("store_users", "store_videos"):
        changes = store_materializations(again, f"{job}_changes").values()
        assert sum(m["inserted"] + m["updated"] + m["soft_deleted"] for m in changes) == 0
        assert sum(m["rows_written"] for m in store_materializations(again, job).values()) == 0
    assert count(db_url, "SELECT count(*) FROM sync_change_log") == log_rows
    assert (
        count(db_url, "SELECT count(*) FROM store_videos WHERE last_run_id = %s", again.run_id) == 0
    )


def test_one_store_resynced_alone(stores_env, stores_upstream, db_url, instance):
    upstream = stores_env(stores_upstream)
    assert run_list(instance).success and run_stores(instance).success
    changed = upstream.admin("mutate", {"source": "store_videos", "update": 0.05})["updated"]
    with psycopg.connect(db_url.conninfo()) as conn:
        code = conn.execute(
            "SELECT store_code FROM store_videos WHERE id = %s", (changed[0],)
        ).fetchone()[0]
        mine = {
            vid
            for (vid,) in conn.execute(
                "SELECT id FROM store_videos WHERE store_code = %s AND id = ANY(%s)",
                (code, changed),
            )
        }

    alone = run_stores(instance, partition=code)
    assert alone.success
    assert set(store_materializations(alone, "store_videos")) == {code}
    assert set(store_materializations(alone, "store_users")) == {code}
    changes = store_materializations(alone, "store_videos_changes")[code]
    assert changes["updated"] == len(mine) and changes["inserted"] == 0
    with psycopg.connect(db_url.conninfo()) as conn:
        touched = conn.execute(
            "SELECT DISTINCT store_code FROM store_videos WHERE last_run_id = %s", (alone.run_id,)
        ).fetchall()
        logged = conn.execute(
            "SELECT DISTINCT store_code FROM sync_logs WHERE run_id = %s", (alone.run_id,)
        ).fetchall()
    assert touched == [(code,)] and set(logged) == {(code,), (None,)}


def test_expired_token_store_fails_alone_with_its_reason(
    stores_env, stores_upstream, db_url, instance
):
    upstream = stores_env(stores_upstream)
    codes = sorted(s["code"] for s in upstream_records(upstream, "/stores"))
    expired = codes[3]
    upstream.admin("faults", {"source": "stores", "expired_stores": [expired]})
    assert run_list(instance).success

    result = run_stores(instance, min_success_rate=0.9)
    assert result.success, "one store failing must not fail the run"
    assert result.dagster_run.tags[RESULT_TAG] == f"{STORE_COUNT - 1} of {STORE_COUNT} stores"
    for job in ("store_users", "store_videos"):
        assert materialized(instance, job) == set(codes) - {expired}
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in check_events(result)}
    failed = checks[("store_videos", "every_store_synced")]
    assert not failed.passed and failed.severity.value == "WARN"
    assert "store_token_expired" in failed.metadata["failed"].value[expired]
    rate = checks[("store_videos", "success_rate")]
    assert rate.passed and rate.metadata["stores_ok"].value == STORE_COUNT - 1
    assert f"{STORE_COUNT - 1} of {STORE_COUNT} stores synced" in rate.metadata["result"].value
    with psycopg.connect(db_url.conninfo()) as conn:
        logs = conn.execute(
            "SELECT job_name, status, message FROM sync_logs WHERE run_id = %s AND store_code = %s "
            "ORDER BY job_name",
            (result.run_id, expired),
        ).fetchall()
    assert [(job, status) for job, status, _ in logs] == [
        ("store_users", "failed"),
        ("store_videos", "failed"),
    ]
    assert all("store_token_expired" in message for _, _, message in logs)

    strict = run_stores(instance, partition=expired)
    assert not check_results(strict)["every_store_synced"].passed


def check_events(result):
    return [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


def test_concurrency_within_settings_and_the_limit_never_exceeded(
    stores_env, stores_upstream, instance, monkeypatch
):
    limit = 40
    upstream = stores_env(stores_upstream)
    monkeypatch.setenv("STORES_RPS", str(limit))
    upstream.admin(
        "faults", {"source": "stores", "rps": limit, "burst": limit, "latency_ms": [40, 80]}
    )
    assert run_list(instance).success
    upstream.admin("stats/reset", {})
    result = run_stores(instance, users_concurrency=2, videos_concurrency=3)
    assert result.success
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in check_events(result)}
    users = checks[("store_users", "success_rate")].metadata
    videos = checks[("store_videos", "success_rate")].metadata
    assert users["concurrency"].value["peak_in_flight"] <= 2
    assert videos["concurrency"].value["peak_in_flight"] <= 3
    stats = upstream.admin("stats")["limit_groups"]["stores"]
    assert stats["requests"] == users["requests"].value == 6 * STORE_COUNT
    assert stats["throttled"] == 0
    assert stats["max_requests_in_1s"] <= 2 * limit
    assert users["db_pool_size"].value == 6
    assert users["progress"].value[-1]["processed"] == STORE_COUNT


def test_deleted_store_retired_its_partition_gone_and_rows_soft_deleted(
    stores_env, upstream_factory, db_url, instance
):
    upstream = stores_env(upstream_factory(sizes={**SMALL_SIZES, "stores": 24}))
    assert run_list(instance).success and run_stores(instance).success
    gone = upstream.admin("mutate", {"source": "stores", "delete": 1 / 24})["deleted"]
    assert len(gone) == 1

    listed = run_list(instance)
    assert listed.success
    assert gone[0] not in registered_store_codes(instance)
    assert len(registered_store_codes(instance)) == 23
    metadata = {
        k: v.value
        for k, v in listed.get_asset_materialization_events()[0].materialization.metadata.items()
    }
    assert metadata["retired_stores"] == gone and metadata["partitions_retired"] == 1
    assert (
        count(
            db_url,
            "SELECT count(*) FROM stores WHERE code = %s AND deleted_at IS NOT NULL",
            gone[0],
        )
        == 1
    )
    for table in ("store_users", "store_videos"):
        assert (
            count(
                db_url,
                f"SELECT count(*) FROM {table} WHERE store_code = %s AND deleted_at IS NULL",
                gone[0],
            )
            == 0
        )
        assert count(db_url, f"SELECT count(*) FROM {table} WHERE store_code = %s", gone[0]) > 100
    assert check_results(listed)["partitions_match_live_stores"].passed


def test_video_stats_going_backwards_warn_with_the_ids_and_the_table_follows_upstream(
    stores_env, stores_upstream, db_url, instance
):
    upstream = stores_env(stores_upstream)
    assert run_list(instance).success and run_stores(instance).success
    grown = upstream.admin("mutate", {"source": "store_videos", "update": 0.05})["updated"]
    with psycopg.connect(db_url.conninfo()) as conn:
        code = conn.execute(
            "SELECT store_code FROM store_videos WHERE id = %s", (grown[0],)
        ).fetchone()[0]
    mine = {
        v["id"]: v for v in upstream_records(upstream, f"/stores/{code}/videos") if v["id"] in grown
    }
    growth = run_stores(instance, partition=code)
    assert growth.success
    assert video_stats(growth).passed

    # the same seed again: the upstream recounts, and the grown videos' views and likes go down
    upstream.admin("reset", {"seed": upstream.seed, "sizes": upstream.sizes})
    recount = {v["id"]: v for v in upstream_records(upstream, f"/stores/{code}/videos")}
    assert all(recount[vid]["views"] < mine[vid]["views"] for vid in mine)
    lowered = run_stores(instance, partition=code)
    assert lowered.success, "a decrease is a warning, not a failed run"
    check = video_stats(lowered)
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["videos"].value == len(mine)
    flagged = {entry["video"] for entry in check.metadata["sample"].value}
    assert flagged == {json.dumps([code, vid]) for vid in mine}
    with psycopg.connect(db_url.conninfo()) as conn:
        stored = dict(
            conn.execute(
                "SELECT id, views FROM store_videos WHERE store_code = %s AND id = ANY(%s)",
                (code, list(mine)),
            ).fetchall()
        )
    assert stored == {vid: recount[vid]["views"] for vid in mine}


def video_stats(result):
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in check_events(result)}
    return checks[("store_videos", "video_stats_never_decrease")]


def test_quarantined_records_warn_as_for_cars_and_reconcile(
    stores_env, stores_upstream, db_url, instance
):
    upstream = stores_env(stores_upstream)
    upstream.admin("faults", {"source": "stores", "data_oddities": True})
    assert run_list(instance).success
    result = run_stores(instance)
    assert result.success
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in check_events(result)}
    quarantined = {
        job: count(
            db_url,
            "SELECT count(*) FROM sync_quarantine WHERE run_id = %s AND entity = %s",
            result.run_id,
            job,
        )
        for job in ("store_users", "store_videos")
    }
    assert sum(quarantined.values()) > 0, "the hostile data has records of the wrong type"
    for job, stored in quarantined.items():
        share = checks[(job, "quarantine_share")]
        assert share.metadata["quarantined"].value == stored
        assert share.passed == (stored == 0)
        if stored:
            assert share.severity.value == "WARN"  # well under 1% of the records
        assert checks[(job, "reconciliation")].passed


def test_a_region_is_one_range_of_partitions_and_runs_as_one_run(
    stores_env, stores_upstream, instance
):
    upstream = stores_env(stores_upstream)
    region_of = {s["code"]: s["region"] for s in upstream_records(upstream, "/stores")}
    assert run_list(instance).success
    registered = registered_store_codes(instance)
    regions = [region_of[code] for code in registered]
    assert len(set(regions)) > 1, "the test data must have several regions"
    assert regions == sorted(regions), "each region's stores are registered together"
    region = regions[len(regions) // 2]
    mine = [code for code in registered if region_of[code] == region]

    result = run_stores_range(instance, mine[0], mine[-1])
    assert result.success
    assert set(store_materializations(result, "store_videos")) == set(mine)
    assert materialized(instance, "store_users") == set(mine)


def run_stores_range(instance, first: str, last: str):
    """One run of a range of store partitions, as a single-run backfill of it launches."""
    return defs.resolve_job_def("stores_sync_job").execute_in_process(
        instance=instance,
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        raise_on_error=False,
    )


def test_the_videos_layers_alone_sync_only_videos(stores_env, stores_upstream, db_url, instance):
    stores_env(stores_upstream)
    assert run_list(instance).success
    code = registered_store_codes(instance)[0]
    videos = [dg.AssetKey(f"store_videos{layer}") for layer in ("_snapshot", "_changes", "")]
    result = defs.resolve_job_def("stores_sync_job").execute_in_process(
        instance=instance, partition_key=code, asset_selection=videos, raise_on_error=False
    )
    assert result.success
    assert materialized(instance, "store_videos") == {code}
    assert materialized(instance, "store_users") == set()
    checked = {(c.asset_key.to_user_string(), c.check_name) for c in check_events(result)}
    assert ("store_videos", "reconciliation") in checked
    assert not any(asset == "store_users" for asset, _ in checked)
    assert count(db_url, "SELECT count(*) FROM store_users") == 0
    assert count(db_url, "SELECT count(*) FROM store_videos WHERE store_code = %s", code) > 0
    with psycopg.connect(db_url.conninfo()) as conn:
        jobs = conn.execute(
            "SELECT DISTINCT job_name FROM sync_logs WHERE run_id = %s ORDER BY 1", (result.run_id,)
        ).fetchall()
    assert jobs == [("store_videos",), ("stores_sync",)]
