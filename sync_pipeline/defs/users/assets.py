"""`users_snapshot` -> `users_changes` -> `users`: the worker and the reconcile, one step.

The step has three modes, chosen by its config:

- worker (`ids` set, by the detector sensor): fetch those users' details under the shared detail
  limit and store them, a pure upsert. The worker job selects `users` alone; its run is a run of
  the partition of the changes' `updated_at` day;
- reconcile (no `ids`): list the partition's window (or every user, `full_refresh`), classify
  against the table, fetch and store what differs. Backfills from the UI run this. On an empty
  table it bootstraps: every summary from the list in seconds, details queued for the backfill.

Both go through `pipelines/users`: the reconcile is the detector's walk and classification
followed by the worker's apply. One subsettable `multi_asset` keeps the lineage and each stage's
metadata without handing data between steps.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.asset_metadata import (
    layered_asset_specs,
    report_partitions,
    table_row_count,
)
from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.defs.step_failures import STEP_RETRY, run_step
from sync_pipeline.defs.users.checks import USERS_CHECK_SPECS, RunFigures, evaluate_users_checks
from sync_pipeline.defs.users.config import UsersSyncConfig, backfill_settings
from sync_pipeline.defs.users.metadata import changes_metadata, snapshot_metadata, table_metadata
from sync_pipeline.defs.users.partitions import users_daily_partitions
from sync_pipeline.defs.users.resources import UsersApiResource
from sync_pipeline.engine.http import ApiClient
from sync_pipeline.engine.rows_per_day import DayRows, rows_per_day
from sync_pipeline.entities.users import USERS
from sync_pipeline.pipelines.users.apply import ApplyOutcome, apply_users
from sync_pipeline.pipelines.users.backfill import BackfillOutcome, backfill_details
from sync_pipeline.pipelines.users.coverage import Coverage, read_coverage
from sync_pipeline.pipelines.users.reconcile import (
    ReconcileOutcome,
    ReconcileScope,
    reconcile_users,
)

UPSTREAM_TAG = {"sync_pipeline/upstream": "users"}
ASSET_ORDER = ("users_snapshot", "users_changes", "users")
PARTITIONS_MEAN = (
    " Partitions are UTC days of `updated_at`: a user is in the partition of the day they last "
    "changed, so a user who changes moves to that day's partition (a change of only volatile "
    "fields, such as last_seen_at, moves nothing)."
)
# Workers keep `users` within minutes while the detector runs; the daily reconcile repairs what
# they missed. Later than that, something stopped.
USERS_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=1)
)


@dg.multi_asset(
    specs=layered_asset_specs(
        "users",
        USERS,
        snapshot="User summaries listed for the partition's updated_at window (reconcile), or the "
        "ids the detector handed to a worker run. Its checks judge the fetch (error "
        "rate, detail throughput).",
        changes="Users whose summary fingerprint differs from the stored one, and what applying "
        "them did (inserted, updated, soft-deleted, quarantined).",
        table="Table `users`: one row per user with its detail; users whose detail answers 404 "
        "are soft-deleted. Fresh when a run stored users within the last hour (warn) "
        "or 26 hours (fail).",
        partitions_note=PARTITIONS_MEAN,
        freshness_policy=USERS_FRESHNESS,
    ),
    check_specs=USERS_CHECK_SPECS,
    partitions_def=users_daily_partitions,
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=registry.source("users").pool,
    op_tags=UPSTREAM_TAG,
    retry_policy=STEP_RETRY,
)
def users_sync(
    context: dg.AssetExecutionContext,
    config: UsersSyncConfig,
    postgres: PostgresResource,
    users_api: UsersApiResource,
    users_detail_api: UsersApiResource,
):
    detail_config = users_detail_api.client_config()
    detail_client = users_detail_api.client(postgres, detail_config, log=context.log)
    run_id = context.run.run_id
    reconcile: ReconcileOutcome | None = None
    backfill: BackfillOutcome | None = None
    if config.ids:
        scope = f"worker:{config.request_key or run_id}"
        context.log.info(f"users worker: {len(config.ids)} ids, scope {scope}")
        applied = run_step(_work(postgres, detail_client, config, run_id, scope))
        if applied.resume_note:
            context.log.warning(f"users {scope}: {applied.resume_note}")
    elif config.backfill:
        context.log.info(
            f"users detail backfill: up to {config.backfill} users, fresh changes first"
        )
        backfill = run_step(_backfill(postgres, detail_client, run_id, config))
        applied = backfill.apply
    else:
        scope = scope_for(context, config)
        context.log.info(f"users reconcile of {scope.label}: {scope.window.describe()}")
        list_client = users_api.client(postgres, log=context.log)
        reconcile = run_step(
            _reconcile(postgres, list_client, detail_client, scope, run_id, config)
        )
        applied = reconcile.apply
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    metadata = {
        "users_snapshot": lambda: snapshot_metadata(reconcile, sorted(config.ids), backfill),
        "users_changes": lambda: changes_metadata(reconcile, sorted(config.ids), backfill),
        "users": lambda: table_metadata(
            applied,
            detail_config.rps or 0.0,
            coverage_of(postgres),
            reconcile.bootstrap if reconcile else None,
            backfill,
            detail_pace_rps=detail_config.paced_rps or 0.0,
        ),
    }
    per_partition = {"users": table_per_partition(days_of_run(postgres, context))}
    for asset in ASSET_ORDER:
        if asset in selected:
            yield report_partitions(context, asset, per_partition.get(asset, {}), metadata[asset]())
    figures = run_figures(
        context, reconcile, applied, detail_config.rps or 0.0, detail_config.paced_rps or 0.0
    )
    yield from evaluate_users_checks(
        figures, config, postgres.pool(), {key.name for key in context.selected_asset_check_keys}
    )


async def _work(
    postgres: PostgresResource, client: ApiClient, config: UsersSyncConfig, run_id: str, scope: str
) -> ApplyOutcome:
    async with client:
        return await apply_users(
            postgres.pool(),
            client,
            config.ids,
            run_id,
            scope=scope,
            settings=config.apply_settings(),
        )


async def _backfill(
    postgres: PostgresResource, client: ApiClient, run_id: str, config: UsersSyncConfig
) -> BackfillOutcome:
    async with client:
        return await backfill_details(
            postgres.pool(), client, run_id, backfill_settings(config.backfill)
        )


async def _reconcile(
    postgres: PostgresResource,
    list_client: ApiClient,
    detail_client: ApiClient,
    scope: ReconcileScope,
    run_id: str,
    config: UsersSyncConfig,
) -> ReconcileOutcome:
    async with list_client, detail_client:
        return await reconcile_users(
            postgres.pool(),
            list_client,
            detail_client,
            scope,
            run_id,
            page_size=config.list_page_size(),
            settings=config.apply_settings(),
            bootstrap_empty=config.bootstrap_empty,
        )


def scope_for(context: dg.AssetExecutionContext, config: UsersSyncConfig) -> ReconcileScope:
    """Every user on a full refresh; else the (range of) daily window(s) of the run."""
    if config.full_refresh:
        return ReconcileScope.full_refresh()
    keys = context.partition_key_range
    window = context.partition_time_window
    label = keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"
    return ReconcileScope.for_day(label, window.start, window.end, datetime.now(UTC))


def run_figures(
    context: dg.AssetExecutionContext,
    reconcile: ReconcileOutcome | None,
    applied: ApplyOutcome,
    detail_limit_rps: float,
    detail_pace_rps: float = 0.0,
) -> RunFigures:
    snapshots = [applied.http] + ([reconcile.list_http] if reconcile is not None else [])
    running = context.instance.get_runs_count(
        dg.RunsFilter(tags=UPSTREAM_TAG, statuses=[dg.DagsterRunStatus.STARTED])
    )
    return RunFigures(
        requests=sum(s.get("requests", 0) for s in snapshots),
        failed_attempts=sum(v for s in snapshots for k, v in s.items() if k.startswith("errors_")),
        detail_requests=applied.http.get("requests", 0),
        detail_rps=applied.detail_rps,
        detail_limit_rps=detail_limit_rps,
        concurrent_runs=max(running, 1),
        detail_pace_rps=detail_pace_rps,
    )


def days_of_run(
    postgres: PostgresResource, context: dg.AssetExecutionContext
) -> dict[str, DayRows]:
    """What each daily partition of the run holds now, and what the run wrote there."""
    window = context.partition_time_window
    with postgres.connection() as conn:
        found = rows_per_day(
            conn, USERS.table, "updated_at", window.start, window.end, context.run.run_id
        )
    return {key: found.get(key, DayRows()) for key in context.partition_keys}


def table_per_partition(days: dict[str, DayRows]) -> dict[str, dict]:
    return {
        day: {
            "partition_live_rows": rows.live,
            "partition_rows_written": rows.written,
            **table_row_count(USERS, rows.live),
        }
        for day, rows in days.items()
    }


def coverage_of(postgres: PostgresResource) -> Coverage:
    with postgres.connection() as conn:
        return read_coverage(conn)
