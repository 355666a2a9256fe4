"""`users_change_detector`: every 60 s, find the users whose summary really changed, and ask
for worker runs for exactly those.

A tick lists the users updated since the cursor (a high-water mark of `updated_at`, with a
2-minute overlap near the present), fingerprints each summary without its volatile fields,
compares all fingerprints with the stored ones in one query and records the changes it asks
for in `users_pending_changes` (see `pipelines/users/detect.py`). Touch-only users cost nothing
downstream. Changes are grouped by the partition of their `updated_at` day into runs of at most
`USERS_BATCH` ids (default 500), each with a deterministic `run_key`; a tick with nothing new
returns a `SkipReason` with what it saw. A tick reads at most `USERS_DETECTOR_MAX_PAGES` list
pages, so after a long outage it takes a bounded window and leaves the rest to the next ticks.

On by default: on a fresh install (empty table) the first tick bootstraps instead of asking
for every user's detail: it stores every summary from the list (seconds) and queues the details
for `users_detail_backfill`, which requests bounded backfill runs, one at a time, that fill them
in (most recently active users first) with the share of the detail limit fresh changes leave.
"""

import asyncio
from datetime import UTC, datetime

import dagster as dg

from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.defs.users.assets import UPSTREAM_TAG
from sync_pipeline.defs.users.config import backfill_settings, detector_settings
from sync_pipeline.defs.users.jobs import users_worker_job
from sync_pipeline.defs.users.partitions import partition_for
from sync_pipeline.defs.users.resources import UsersApiResource
from sync_pipeline.pipelines.users.coverage import read_coverage
from sync_pipeline.pipelines.users.detect import Detection, RunGroup, detect_changes
from sync_pipeline.pipelines.users.window import DetectorCursor

BACKFILL_TAG = "sync_pipeline/users_backfill"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    job=users_worker_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Finds users whose summary changed since the last tick and asks for worker runs "
    "for them.",
)
def users_change_detector(
    context: dg.SensorEvaluationContext, postgres: PostgresResource, users_api: UsersApiResource
) -> dg.SensorResult:
    cursor = DetectorCursor.parse(context.cursor)
    detection = asyncio.run(_detect(postgres, users_api, cursor, datetime.now(UTC)))
    context.log.info(
        f"users detector tick {detection.cursor.tick}: {detection.summary()} "
        f"({detection.walk.pages_read} pages, {detection.elapsed_s:.2f} s)"
    )
    if not detection.groups:
        return dg.SensorResult(
            skip_reason=skip_reason(detection), cursor=detection.cursor.to_json()
        )
    return dg.SensorResult(
        run_requests=[worker_run_request(group) for group in detection.groups],
        cursor=detection.cursor.to_json(),
    )


async def _detect(
    postgres: PostgresResource, users_api: UsersApiResource, cursor: DetectorCursor, now: datetime
) -> Detection:
    async with users_api.client(postgres) as client:
        return await detect_changes(
            postgres.pool(),
            client,
            cursor,
            detector_settings(),
            lambda stamp: partition_for(stamp, now),
            now,
        )


def worker_run_request(group: RunGroup) -> dg.RunRequest:
    """The worker run for one group: its partition, its ids in the step's config, its run key."""
    config = {"ids": group.ids, "request_key": group.run_key}
    return dg.RunRequest(
        run_key=group.run_key,
        partition_key=group.partition,
        run_config={"ops": {"users_sync": {"config": config}}},
        tags={**UPSTREAM_TAG, "sync_pipeline/users_ids": str(len(group.ids))},
    )


def skip_reason(detection: Detection) -> str:
    if detection.bootstrap is not None:
        return detection.summary()
    counts = detection.classification.counts
    moved = (
        ""
        if detection.walk.stable
        else "; users moved during the listing, the window will be listed again"
    )
    return (
        f"no new changes: {detection.seen} users seen in {detection.window.describe()}, "
        f"{counts['touched']} touch-only, {counts['unchanged']} unchanged, "
        f"{counts['requested']} already requested{moved}"
    )


@dg.sensor(
    job=users_worker_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests one bounded detail-backfill run at a time while users known from the "
    "list only wait for their detail.",
)
def users_detail_backfill(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> dg.SensorResult:
    with postgres.connection() as conn:
        coverage = read_coverage(conn)
    if coverage.backfill_pending == 0:
        return dg.SensorResult(
            skip_reason=f"no backfill items: {coverage.complete:,} of {coverage.live:,} "
            "users have their detail"
        )
    in_flight = context.instance.get_runs_count(
        dg.RunsFilter(tags={BACKFILL_TAG: "true"}, statuses=IN_FLIGHT)
    )
    if in_flight:
        return dg.SensorResult(
            skip_reason=f"a backfill run is in progress; {coverage.backfill_pending:,} "
            "backfill items queued"
        )
    number = int(context.cursor or 0) + 1
    return dg.SensorResult(
        run_requests=[backfill_run_request(number, backfill_settings().run_size)],
        cursor=str(number),
    )


def backfill_run_request(number: int, run_size: int) -> dg.RunRequest:
    """Backfill run `number`: up to `run_size` items, on today's partition."""
    return dg.RunRequest(
        run_key=f"users-backfill-{number}",
        partition_key=partition_for(None, datetime.now(UTC)),
        run_config={"ops": {"users_sync": {"config": {"backfill": run_size}}}},
        tags={**UPSTREAM_TAG, BACKFILL_TAG: "true"},
    )
