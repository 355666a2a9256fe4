"""Slack alerts after real cars runs (real upstream, real PostgreSQL), posted to a fake Slack
Web API on loopback: exactly the expected messages, none repeated on the next tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from sync_pipeline.definitions import defs
from sync_pipeline.defs.alerts import slack_on_check_failure, slack_on_run_failure
from sync_pipeline_tests.defs.cars.conftest import cars_env, cars_upstream, instance, run_cars  # noqa: F401
from sync_pipeline_tests.fake_slack import FakeSlack
from sync_pipeline_tests.secret_scan import TEST_TOKENS

TODAY = datetime.now(UTC).strftime("%Y-%m-%d")
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
DAGSTER_URL = "http://dagster.test:3000"
TOKEN = TEST_TOKENS["slack"]


@pytest.fixture
def slack(monkeypatch, cars_env):  # noqa: F811 (fixture imported above)
    with FakeSlack() as fake:
        monkeypatch.setenv("SLACK_API_BASE_URL", fake.base_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_CHANNEL", "#sync-alerts")
        monkeypatch.setenv("SYNC_DAGSTER_BASE_URL", DAGSTER_URL)
        monkeypatch.delenv("SLACK_WARN_CHECKS", raising=False)
        yield fake


class Ticks:
    """Both alert sensors evaluated tick after tick, each keeping its cursor."""

    def __init__(self, instance: dg.DagsterInstance) -> None:  # noqa: F811
        self.instance = instance
        self.cursors: dict[str, str | None] = {}
        self.skip_reasons: dict[str, str | None] = {}

    def __call__(self) -> None:
        for sensor in (slack_on_check_failure, slack_on_run_failure):
            with dg.build_sensor_context(
                instance=self.instance,
                cursor=self.cursors.get(sensor.name),
                definitions=defs,
                resources=defs.resources,
            ) as context:
                data = sensor.evaluate_tick(context)
            self.cursors[sensor.name] = data.cursor
            self.skip_reasons[sensor.name] = data.skip_message


def test_failed_check_and_run_post_once_then_recovery_once(slack, instance):  # noqa: F811
    tick = Ticks(instance)
    tick()
    assert slack.messages == []

    failed = run_cars(instance, partition=TODAY, max_error_rate=-1.0)
    assert not failed.success
    tick()
    check_text, run_text = slack.texts()
    assert check_text.startswith(":red_circle: Check failed (ERROR): *cars_snapshot / error_rate*")
    assert f"partition `{TODAY}`" in check_text
    assert "measured: error_rate=0, requests=" in check_text
    assert "target: target_max_error_rate=-1" in check_text
    assert f"FAILURE <{DAGSTER_URL}/runs/{failed.run_id}|open in Dagster>" in check_text
    assert run_text.startswith(f":x: Run failed: *cars_sync_job*, partition `{TODAY}`")
    assert "\nassets: cars, cars_changes, cars_snapshot\n" in run_text
    assert (
        "cars_sync: 1 blocking asset check failed with ERROR severity: cars_snapshot: error_rate"
        in run_text
    )
    assert f"{DAGSTER_URL}/runs/{failed.run_id}" in run_text
    assert {m["channel"] for m in slack.messages} == {"#sync-alerts"}
    assert slack.authorizations == [f"Bearer {TOKEN}"] * 2

    tick()
    tick()
    assert len(slack.messages) == 2, "nothing is posted twice"

    passed = run_cars(instance, partition=TODAY)
    assert passed.success
    tick()
    assert len(slack.messages) == 3
    recovery = slack.texts()[2]
    assert recovery.startswith(
        ":large_green_circle: Check passes again: *cars_snapshot / error_rate*"
    )
    assert f"partition `{TODAY}` (failed in run {failed.run_id[:8]})" in recovery
    assert f"SUCCESS <{DAGSTER_URL}/runs/{passed.run_id}|" in recovery

    assert run_cars(instance, partition=TODAY).success
    tick()
    assert len(slack.messages) == 3, "a check that keeps passing recovers only once"


def test_each_partition_fails_and_recovers_on_its_own(slack, instance):  # noqa: F811
    tick = Ticks(instance)
    tick()
    for partition in (YESTERDAY, TODAY):
        assert not run_cars(instance, partition=partition, max_error_rate=-1.0).success
    tick()
    checks = [t.split("\n")[0] for t in slack.texts() if t.startswith(":red_circle:")]
    assert checks == [
        f":red_circle: Check failed (ERROR): *cars_snapshot / error_rate*, partition `{day}`"
        for day in (YESTERDAY, TODAY)
    ]
    assert len(slack.messages) == 4, "one check and one run message per failed partition"

    assert run_cars(instance, partition=TODAY).success
    tick()
    tick()
    (recovery,) = slack.texts()[4:]
    assert recovery.startswith(
        ":large_green_circle: Check passes again: *cars_snapshot / error_rate*"
    )
    assert f"partition `{TODAY}`" in recovery, "the other partition is still failing"


def test_warn_failures_post_only_for_configured_checks(slack, instance, monkeypatch):  # noqa: F811
    tick = Ticks(instance)
    tick()
    assert run_cars(instance, partition=TODAY, runtime_budget_s=0.0).success
    tick()
    assert slack.messages == [], "a WARN check is not alerted unless configured"

    monkeypatch.setenv("SLACK_WARN_CHECKS", "cars/runtime_budget")
    slow = run_cars(instance, partition=TODAY, runtime_budget_s=0.0)
    tick()
    (text,) = slack.texts()
    assert text.startswith(":red_circle: Check failed (WARN): *cars / runtime_budget*")
    assert (
        "target: target_max_s=0" in text and f"SUCCESS <{DAGSTER_URL}/runs/{slow.run_id}|" in text
    )


def test_a_refused_message_is_posted_on_the_next_tick_and_only_once(slack, instance):  # noqa: F811
    tick = Ticks(instance)
    tick()
    run_cars(instance, partition=TODAY, max_error_rate=-1.0)
    slack.refuse_next = 1
    tick()
    assert "Slack refused or is unreachable" in tick.skip_reasons["slack_on_check_failure"]
    tick()
    tick()
    check_texts = [t for t in slack.texts() if "Check failed" in t]
    assert len(check_texts) == 1


def test_without_a_token_the_sensors_skip_saying_what_to_set(slack, instance, monkeypatch):  # noqa: F811
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    tick = Ticks(instance)
    tick()
    run_cars(instance, partition=TODAY, max_error_rate=-1.0)
    tick()
    assert slack.messages == []
    for reason in tick.skip_reasons.values():
        assert reason == "Slack alerts are off: set SLACK_BOT_TOKEN (optionally SLACK_API_BASE_URL)"
