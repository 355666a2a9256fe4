"""Contacts through Dagster: workspaces become partitions (sensor and CLI), a run per
workspace writes its contacts with the checks passing, a full refresh covers them all, and odd
contacts are sanitized or quarantined (and counted) rather than failing the run."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import dagster as dg
import httpx
import psycopg
import pytest

from sync_pipeline.definitions import defs
from sync_pipeline.defs.contacts.checks import quarantine_share_check
from sync_pipeline.defs.contacts.jobs import CONTACTS_SOURCE_SYNC
from sync_pipeline.defs.contacts.partitions import contacts_workspaces
from sync_pipeline.defs.contacts.sensors import contacts_workspaces_sensor
from sync_pipeline.sources import execute_source_run
from sync_pipeline_tests.defs.cars.test_cars_resume_and_cli import sync_cli_env
from sync_pipeline_tests.run_results import check_results, materialization_metadata

SIZES = {
    "cars": 10,
    "users": 10,
    "stores": 1,
    "leaderboard_entries": 10,
    "contacts": 300,
    "workspaces": 3,
}


@pytest.fixture
def crm(upstream_factory):
    return upstream_factory(sizes=SIZES)


@pytest.fixture
def contacts_env(monkeypatch, db_url, crm):
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    monkeypatch.setenv("SYNC_CONTACTS_API_URL", crm.url)
    monkeypatch.delenv("SYNC_CONTACTS_API_TOKEN", raising=False)
    monkeypatch.setenv("RPS", "500")
    return crm


def upstream_workspaces(crm) -> list[str]:
    return sorted(w["id"] for w in httpx.get(f"{crm.url}/workspaces").json()["data"])


def contact_counts(db_url) -> dict[str, int]:
    with psycopg.connect(db_url.conninfo()) as conn:
        return dict(
            conn.execute(
                "SELECT workspace_id, count(*) FROM contacts WHERE deleted_at IS NULL GROUP BY 1"
            ).fetchall()
        )


def test_sensor_adds_new_workspaces_with_a_first_full_run_each(contacts_env):
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            first = contacts_workspaces_sensor(context)
        expected = upstream_workspaces(contacts_env)
        added = first.dynamic_partitions_requests[0]
        assert sorted(added.partition_keys) == expected
        assert sorted(r.partition_key for r in first.run_requests) == expected
        assert all(
            r.run_config["ops"]["contacts_sync"]["config"]["full_refresh"]
            for r in first.run_requests
        )
        instance.add_dynamic_partitions(contacts_workspaces.name, added.partition_keys)
        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            again = contacts_workspaces_sensor(context)
        assert (
            not again.run_requests and "no new workspace among 3" in again.skip_reason.skip_message
        )


def test_full_refresh_run_covers_every_workspace_and_checks_pass(contacts_env, db_url):
    with (
        dg.instance_for_test() as instance,
        dg.partition_loading_context(dynamic_partitions_store=instance),
    ):
        CONTACTS_SOURCE_SYNC.prepare_partitions(instance)
        assert sorted(
            instance.get_dynamic_partitions(contacts_workspaces.name)
        ) == upstream_workspaces(contacts_env)
        result = execute_source_run(
            CONTACTS_SOURCE_SYNC, instance, full_refresh=True, partition=None
        )
        assert result.success
        checks = check_results(result)
        assert checks["reconciliation"].passed and checks["error_rate"].passed
        counts = contact_counts(db_url)
        assert sorted(counts) == upstream_workspaces(contacts_env) and sum(counts.values()) == 300
        table = {
            m.partition: m.metadata
            for m in (
                e.event_specific_data.materialization
                for e in result.get_asset_materialization_events()
            )
            if m.asset_key == dg.AssetKey("contacts")
        }
        assert {ws: figures["partition_live_rows"].value for ws, figures in table.items()} == counts
        assert {ws: figures["dagster/row_count"].value for ws, figures in table.items()} == counts
        last = CONTACTS_SOURCE_SYNC.partitions.get_partition_keys()[-1]
        assert [ws for ws, figures in table.items() if "summary" in figures] == [last]

        contacts_env.admin("mutate", {"source": "contacts", "update": 0.05, "touch": 0.1})
        one = execute_source_run(
            CONTACTS_SOURCE_SYNC, instance, full_refresh=False, partition=min(counts)
        )
        assert one.success and all(c.passed for c in check_results(one).values())


def test_sync_command_syncs_each_workspace_and_refuses_unknown_ones(contacts_env, db_url, tmp_path):
    env = sync_cli_env(db_url, contacts_env.url, tmp_path, RPS="500")
    ok = subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "sync", "contacts"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("check reconciliation: passed") == 3
    assert sum(contact_counts(db_url).values()) == 300
    bad = subprocess.run(
        [sys.executable, "-m", "sync_pipeline.cli", "sync", "contacts", "--partition", "ws_nope"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "not a partition" in bad.stderr


def test_odd_contacts_load_sanitized_and_a_quarantined_one_warns(
    upstream_factory, monkeypatch, db, db_url
):
    # Seed 14, 200 contacts in one workspace: 2 of a wrong type (1%, a warning), a NUL, extras.
    crm = upstream_factory(seed=14, sizes={**SIZES, "contacts": 200, "workspaces": 1})
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    monkeypatch.setenv("SYNC_CONTACTS_API_URL", crm.url)
    monkeypatch.setenv("RPS", "500")
    crm.admin("faults", {"source": "contacts", "data_oddities": True})
    with (
        dg.instance_for_test() as instance,
        dg.partition_loading_context(dynamic_partitions_store=instance),
    ):
        CONTACTS_SOURCE_SYNC.prepare_partitions(instance)
        result = execute_source_run(
            CONTACTS_SOURCE_SYNC, instance, full_refresh=True, partition=None
        )
    assert result.success, "a quarantine share under 1% warns, it does not fail the run"
    changes = materialization_metadata(result, "contacts_changes")
    checks = check_results(result)
    assert changes["quarantined"] >= 1 and changes["sanitized_values"] >= 1, changes
    assert checks["reconciliation"].passed, checks["reconciliation"].metadata
    share = checks["quarantine_share"]
    assert not share.passed and share.severity == dg.AssetCheckSeverity.WARN
    assert share.metadata["quarantine_share"].value == changes["quarantined"] / 200
    live, with_extra = db.execute(
        "SELECT count(*), count(*) FILTER (WHERE extra ? 'x_trace_id') FROM contacts "
        "WHERE deleted_at IS NULL"
    ).fetchone()
    assert live == 200 - changes["quarantined"] and with_extra >= 1, (live, with_extra)


def test_a_quarantine_share_above_one_percent_is_an_error():
    def outcomes(quarantined: int) -> list:
        result = SimpleNamespace(quarantined=quarantined)
        return [SimpleNamespace(workspace_id="ws1", records=1000, result=result)]

    at_limit, above = quarantine_share_check(outcomes(10)), quarantine_share_check(outcomes(11))
    assert not at_limit.passed and at_limit.severity == dg.AssetCheckSeverity.WARN
    assert not above.passed and above.severity == dg.AssetCheckSeverity.ERROR
    assert quarantine_share_check(outcomes(0)).passed
