"""Slack alerts: one message per failed asset check (and one when it passes again), one per
failed run.

Open-source Dagster has no sensor on check evaluations, so `slack_on_check_failure` reads the
event log's ASSET_CHECK_EVALUATION records after a cursor. It waits for the evaluating run to
finish, so the message says how the run ended. `slack_on_run_failure` is Dagster's run-failure
sensor posting through the same `SlackAlertsResource` (dagster-slack's factory takes the token
as a string when the definitions load and has no Web API base URL, so it is not used as is).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import dagster as dg
from dagster_slack import SlackResource
from pydantic import Field
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from sync_pipeline.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sync_pipeline.settings import settings

TOKEN_VAR = "SLACK_BOT_TOKEN"
RECORDS_PER_TICK = 200
WAIT_FOR_RUN_S = 3600
SLACK_TIMEOUT_S = 10
# The job Dagster runs for a Materialize click or a backfill (`__ASSET_JOB`, one per partitions
# definition in older releases): named for what it does in a message, not by that name.
IMPLICIT_ASSET_JOB_PREFIX = "__ASSET_JOB"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


class SlackAlertsResource(SlackResource):
    """dagster-slack's resource with the Web API base URL, channel and run links configurable.

    Unset fields are read when a message is posted: the token from `SLACK_BOT_TOKEN` (never
    stored in config, never logged), the rest from `SLACK_API_BASE_URL`, `SLACK_CHANNEL`,
    `SYNC_DAGSTER_BASE_URL` and `SLACK_WARN_CHECKS`.
    """

    token: str = Field(default="", description="Leave empty: SLACK_BOT_TOKEN is read when posting.")
    base_url: str | None = Field(
        default=None, description="Slack Web API base URL. Default: SLACK_API_BASE_URL."
    )
    channel: str | None = Field(
        default=None, description="Channel to post to. Default: SLACK_CHANNEL."
    )
    dagster_base_url: str | None = Field(
        default=None, description="UI address for run links. Default: SYNC_DAGSTER_BASE_URL."
    )
    warn_checks: list[str] | None = Field(
        default=None,
        description="Checks (`asset/check`) alerted on WARN too. Default: SLACK_WARN_CHECKS.",
    )

    def missing_settings(self) -> str:
        """Why no message can be posted ("" when Slack is configured)."""
        missing = [
            name
            for name, value in ((TOKEN_VAR, self._token()), ("SLACK_CHANNEL", self._channel()))
            if not value
        ]
        if not missing:
            return ""
        return f"Slack alerts are off: set {' and '.join(missing)} (optionally SLACK_API_BASE_URL)"

    def get_client(self) -> WebClient:
        base_url = self.base_url or settings().slack_api_base_url
        return WebClient(
            token=self._token(), base_url=base_url.rstrip("/") + "/", timeout=SLACK_TIMEOUT_S
        )

    def post(self, text: str) -> None:
        """Post `text` to the channel; raises `SlackClientError` when Slack refuses or is down."""
        self.get_client().chat_postMessage(channel=self._channel(), text=text, unfurl_links=False)

    def run_url(self, run_id: str) -> str:
        base = self.dagster_base_url or settings().sync_dagster_base_url
        return f"{base.rstrip('/')}/runs/{run_id}"

    def alerts_on_warn(self, asset: str, check: str) -> bool:
        names = self.warn_checks
        if names is None:
            names = [
                n.strip() for n in (settings().slack_warn_checks or "").split(",") if n.strip()
            ]
        return f"{asset}/{check}" in names

    def _token(self) -> str:
        secret = settings().slack_bot_token
        return self.token or (secret.get_secret_value() if secret else "")

    def _channel(self) -> str:
        return self.channel or settings().slack_channel or ""


@dataclass
class CheckAlertCursor:
    """Where the check sensor is in the event log, what it waits on and what is failing.

    `after`: the last storage id read; `waiting`: evaluations held until their run finishes;
    `failing`: check key (`asset/check@partition`) -> id of the run whose failure was posted.
    """

    after: int
    waiting: list[int] = field(default_factory=list)
    failing: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: str | None) -> CheckAlertCursor | None:
        return cls(**json.loads(raw)) if raw else None

    def to_json(self) -> str:
        return json.dumps({"after": self.after, "waiting": self.waiting, "failing": self.failing})


@dataclass(frozen=True)
class CheckEvent:
    """One check evaluation with the run that produced it."""

    storage_id: int
    timestamp: float
    evaluation: dg.AssetCheckEvaluation
    run_id: str
    run: dg.DagsterRun | None

    @property
    def asset(self) -> str:
        return self.evaluation.asset_key.to_user_string()

    @property
    def partition(self) -> str:
        return self.evaluation.partition or partition_label(self.run)

    @property
    def key(self) -> str:
        return f"{self.asset}/{self.evaluation.check_name}@{self.partition}"

    @property
    def run_status(self) -> str:
        return self.run.status.value if self.run else "UNKNOWN (run deleted)"


@dg.sensor(
    name="slack_on_check_failure",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts failed asset checks (ERROR; WARN for SLACK_WARN_CHECKS) to Slack once "
    "per check, partition and run, and once when the check passes again.",
)
def slack_on_check_failure(
    context: dg.SensorEvaluationContext, slack: SlackAlertsResource
) -> dg.SensorResult:
    instance = context.instance
    cursor = CheckAlertCursor.from_json(context.cursor)
    if cursor is None or slack.missing_settings():
        latest = instance.event_log_storage.get_maximum_record_id() or 0
        start = CheckAlertCursor(after=latest, failing=cursor.failing if cursor else {})
        reason = slack.missing_settings() or f"watching check evaluations after event {latest}"
        return dg.SensorResult(skip_reason=reason, cursor=start.to_json())
    posted, error = post_check_alerts(slack, cursor, read_check_events(instance, cursor))
    reason = error or (None if posted else "no check failed or recovered")
    return dg.SensorResult(skip_reason=reason, cursor=cursor.to_json())


def read_check_events(instance: dg.DagsterInstance, cursor: CheckAlertCursor) -> list[CheckEvent]:
    """The evaluations held back last tick, then up to RECORDS_PER_TICK new ones, in order."""
    records = []
    if cursor.waiting:
        records += check_records(
            instance,
            dg.EventRecordsFilter(
                dg.DagsterEventType.ASSET_CHECK_EVALUATION, storage_ids=cursor.waiting
            ),
        )
    new = check_records(
        instance,
        dg.EventRecordsFilter(
            dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=cursor.after
        ),
        limit=RECORDS_PER_TICK,
    )
    if new:
        cursor.after = new[-1].storage_id
    records = sorted({r.storage_id: r for r in records + new}.values(), key=lambda r: r.storage_id)
    run_ids = {r.event_log_entry.run_id for r in records}
    runs = (
        {r.run_id: r for r in instance.get_runs(dg.RunsFilter(run_ids=list(run_ids)))}
        if run_ids
        else {}
    )
    return [
        CheckEvent(
            r.storage_id,
            r.timestamp,
            r.event_log_entry.dagster_event.event_specific_data,
            r.event_log_entry.run_id,
            runs.get(r.event_log_entry.run_id),
        )
        for r in records
    ]


def check_records(
    instance: dg.DagsterInstance, records_filter: dg.EventRecordsFilter, limit: int | None = None
) -> list[dg.EventLogRecord]:
    return list(
        instance.event_log_storage.get_event_records(records_filter, limit=limit, ascending=True)
    )


def post_check_alerts(
    slack: SlackAlertsResource, cursor: CheckAlertCursor, events: list[CheckEvent]
) -> tuple[int, str]:
    """Post what `events` call for, updating `cursor` message by message.

    Returns (messages posted, why posting stopped or ""). An evaluation whose run has not
    finished is held (with every later one of the same check) until it has.
    """
    cursor.waiting, held_keys, posted = [], set(), 0
    for event in events:
        if event.key in held_keys or run_unfinished(event):
            cursor.waiting.append(event.storage_id)
            held_keys.add(event.key)
            continue
        alerted = is_alerted_failure(slack, event)
        text = alert_text(slack, cursor, event, alerted)
        if text:
            try:
                slack.post(text)
            except SlackClientError as exc:
                cursor.waiting += [
                    e.storage_id
                    for e in events
                    if e.storage_id >= event.storage_id and e.storage_id not in cursor.waiting
                ]
                return (
                    posted,
                    f"Slack refused or is unreachable, will retry: {type(exc).__name__}: {exc}",
                )
            posted += 1
        record_outcome(cursor, event, alerted)
    return posted, ""


def run_unfinished(event: CheckEvent) -> bool:
    if event.run is None or event.run.status in FINISHED:
        return False
    return time.time() - event.timestamp < WAIT_FOR_RUN_S


def alert_text(
    slack: SlackAlertsResource, cursor: CheckAlertCursor, event: CheckEvent, alerted: bool
) -> str:
    """The message `event` calls for, or "" (a pass that recovers nothing, an unalerted WARN,
    a failure already posted for this run)."""
    if event.evaluation.passed:
        failed_run = cursor.failing.get(event.key)
        return recovery_text(slack, failed_run, event) if failed_run else ""
    if not alerted or cursor.failing.get(event.key) == event.run_id:
        return ""
    return failure_text(slack, event)


def record_outcome(cursor: CheckAlertCursor, event: CheckEvent, alerted: bool) -> None:
    if event.evaluation.passed:
        cursor.failing.pop(event.key, None)
    elif alerted:
        cursor.failing[event.key] = event.run_id


def is_alerted_failure(slack: SlackAlertsResource, event: CheckEvent) -> bool:
    """ERROR failures always; WARN failures of the checks named in `warn_checks`."""
    evaluation = event.evaluation
    if evaluation.passed:
        return False
    return evaluation.severity == dg.AssetCheckSeverity.ERROR or slack.alerts_on_warn(
        event.asset, evaluation.check_name
    )


def failure_text(slack: SlackAlertsResource, event: CheckEvent) -> str:
    evaluation = event.evaluation
    header = (
        f":red_circle: Check failed ({evaluation.severity.value}): *{event.asset} / "
        f"{evaluation.check_name}*, partition `{event.partition}`"
    )
    return check_message(header, slack, event)


def recovery_text(slack: SlackAlertsResource, failed_run_id: str, event: CheckEvent) -> str:
    header = (
        f":large_green_circle: Check passes again: *{event.asset} / "
        f"{event.evaluation.check_name}*, partition `{event.partition}` "
        f"(failed in run {failed_run_id[:8]})"
    )
    return check_message(header, slack, event)


def check_message(header: str, slack: SlackAlertsResource, event: CheckEvent) -> str:
    measured, targets = measured_and_targets(event.evaluation)
    return "\n".join(
        [
            header,
            f"measured: {measured or 'none reported'}",
            f"target: {targets or 'none reported'}",
            run_line(slack, event),
        ]
    )


def run_line(slack: SlackAlertsResource, event: CheckEvent) -> str:
    job = job_label(event.run) if event.run else "?"
    return (
        f"run {event.run_id[:8]} ({job}): {event.run_status} "
        f"<{slack.run_url(event.run_id)}|open in Dagster>"
    )


def measured_and_targets(evaluation: dg.AssetCheckEvaluation) -> tuple[str, str]:
    """`name=value` lists of the evaluation's scalar metadata: targets (keys naming a target,
    maximum or minimum) apart from what was measured."""
    measured, targets = [], []
    for name, value in evaluation.metadata.items():
        raw = getattr(value, "value", value)
        if raw is not None and not isinstance(raw, (str, int, float, bool)):
            continue
        shown = f"{name}={_format(raw)}"
        (targets if _is_target(name) else measured).append(shown)
    return ", ".join(measured), ", ".join(targets)


def partition_label(run: dg.DagsterRun | None) -> str:
    """The run's partition, its range (`start..end`), or `-` for an unpartitioned run."""
    if run is None:
        return "-"
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if ASSET_PARTITION_RANGE_START_TAG in tags:
        return (
            f"{tags[ASSET_PARTITION_RANGE_START_TAG]}.."
            f"{tags.get(ASSET_PARTITION_RANGE_END_TAG, '')}"
        )
    return "-"


@dg.run_failure_sensor(
    name="slack_on_run_failure",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts every failed run of this code location to Slack, once.",
)
def slack_on_run_failure(context: dg.RunFailureSensorContext, slack: SlackAlertsResource):
    reason = slack.missing_settings()
    if reason:
        return dg.SkipReason(reason)
    run = context.dagster_run
    assets = run_assets(context.instance, run)
    slack.post(run_failure_text(slack, run, assets, failure_reason(context)))
    return None


def failure_reason(context: dg.RunFailureSensorContext) -> str:
    """The first failed step and its error's first line, else the run failure's message."""
    for step_failure in context.get_step_failure_events():
        error = step_failure.step_failure_data.error
        if error is not None:
            text = error.message.split(": ", 1)[-1] if error.cls_name else error.message
            return f"{step_failure.step_key}: {' '.join(text.strip().splitlines()[:2])}"
    message = (context.failure_event.message or "").strip().splitlines()
    return message[0] if message else "no error message"


def run_failure_text(
    slack: SlackAlertsResource, run: dg.DagsterRun, assets: str, reason: str
) -> str:
    return "\n".join(
        [
            f":x: Run failed: *{job_label(run)}*, partition `{partition_label(run)}`",
            f"assets: {assets}",
            f"status: {run.status.value}; {reason}",
            f"run {run.run_id[:8]} <{slack.run_url(run.run_id)}|open in Dagster>",
        ]
    )


def job_label(run: dg.DagsterRun) -> str:
    """The run's job, or "asset materialization" for Dagster's implicit asset job."""
    if run.job_name.startswith(IMPLICIT_ASSET_JOB_PREFIX):
        return "asset materialization"
    return run.job_name


def run_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The assets the run was to materialize: its asset selection, else (a whole job's run)
    the assets its plan announced; `-` for a run of ops only."""
    keys = set(run.asset_selection or ())
    if not keys:
        planned = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        ).records
        keys = {r.event_log_entry.dagster_event.asset_key for r in planned}
    return ", ".join(sorted(key.to_user_string() for key in keys if key)) or "-"


def _is_target(name: str) -> bool:
    lowered = name.lower()
    return "target" in lowered or lowered.startswith(("max_", "min_", "threshold"))


def _format(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


defs = dg.Definitions(
    sensors=[slack_on_check_failure, slack_on_run_failure],
    resources={"slack": SlackAlertsResource()},
)
