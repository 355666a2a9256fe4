"""`users_snapshot` -> `users_changes` -> `users`: the worker and the reconcile, one step.

The step has two modes, chosen by its config:

- worker (`ids` set, by the detector sensor): fetch those users' details under the shared detail
  limit and store them, a pure upsert. The worker job selects `users` alone; its run is a run of
  the partition of the changes' `updated_at` day;
- reconcile (no `ids`): list the partition's window (or every user, `full_refresh`), classify
  against the table, fetch and store what differs. Backfills from the UI run this.

Both go through `pipelines/users`: the reconcile is the detector's walk and classification
followed by the worker's apply. One subsettable `multi_asset` keeps the lineage and each stage's
metadata without handing data between steps.
"""

import asyncio
from datetime import datetime, timezone

import dagster as dg

from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.defs.users.checks import USERS_CHECK_SPECS, RunFigures, evaluate_users_checks
from sync_pipeline.defs.users.config import UsersSyncConfig
from sync_pipeline.defs.users.metadata import changes_metadata, snapshot_metadata, table_metadata
from sync_pipeline.defs.users.partitions import users_daily_partitions
from sync_pipeline.defs.users.resources import UsersApiResource
from sync_pipeline.engine.http import ApiClient
from sync_pipeline.pipelines.users.apply import ApplyOutcome, apply_users
from sync_pipeline.pipelines.users.reconcile import ReconcileOutcome, ReconcileScope, reconcile_users

UPSTREAM_TAG = {"sync_pipeline/upstream": "users"}
RETRY_TAGS = {"dagster/max_retries": "2"}
GROUP = "users"
ASSET_ORDER = ("users_snapshot", "users_changes", "users")


@dg.multi_asset(
    specs=[
        dg.AssetSpec("users_snapshot", group_name=GROUP, kinds={"python"},
                     description="User summaries listed for the partition's updated_at window (reconcile), or the "
                                 "ids the detector handed to a worker run."),
        dg.AssetSpec("users_changes", group_name=GROUP, deps=["users_snapshot"], kinds={"python"},
                     description="Users whose summary fingerprint differs from the stored one, and what applying "
                                 "them did (inserted, updated, soft-deleted, quarantined)."),
        dg.AssetSpec("users", group_name=GROUP, deps=["users_changes"], kinds={"postgres"},
                     description="Table `users`: one row per user with its detail; users whose detail answers 404 "
                                 "are soft-deleted."),
    ],
    check_specs=USERS_CHECK_SPECS,
    partitions_def=users_daily_partitions,
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
    op_tags=UPSTREAM_TAG,
)
def users_sync(context: dg.AssetExecutionContext, config: UsersSyncConfig, postgres: PostgresResource,
               users_api: UsersApiResource, users_detail_api: UsersApiResource):
    detail_config = users_detail_api.client_config()
    detail_client = users_detail_api.client(postgres, detail_config, log=context.log)
    run_id = context.run.run_id
    reconcile: ReconcileOutcome | None = None
    if config.ids:
        scope = f"worker:{config.request_key or run_id}"
        context.log.info(f"users worker: {len(config.ids)} ids, scope {scope}")
        applied = asyncio.run(_work(postgres, detail_client, config, run_id, scope))
    else:
        scope = scope_for(context, config)
        context.log.info(f"users reconcile of {scope.label}: {scope.window.describe()}")
        list_client = users_api.client(postgres, log=context.log)
        reconcile = asyncio.run(_reconcile(postgres, list_client, detail_client, scope, run_id, config))
        applied = reconcile.apply
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    metadata = {"users_snapshot": lambda: snapshot_metadata(reconcile, sorted(config.ids)),
                "users_changes": lambda: changes_metadata(reconcile, sorted(config.ids)),
                "users": lambda: table_metadata(applied, detail_config.rps or 0.0, count_live_users(postgres))}
    for asset in ASSET_ORDER:
        if asset in selected:
            yield dg.MaterializeResult(asset_key=asset, metadata=metadata[asset]())
    figures = run_figures(context, reconcile, applied, detail_config.rps or 0.0)
    yield from evaluate_users_checks(figures, config, postgres.pool(),
                                     {key.name for key in context.selected_asset_check_keys})


async def _work(postgres: PostgresResource, client: ApiClient, config: UsersSyncConfig, run_id: str,
                scope: str) -> ApplyOutcome:
    async with client:
        return await apply_users(postgres.pool(), client, config.ids, run_id, scope=scope,
                                 settings=config.apply_settings())


async def _reconcile(postgres: PostgresResource, list_client: ApiClient, detail_client: ApiClient,
                     scope: ReconcileScope, run_id: str, config: UsersSyncConfig) -> ReconcileOutcome:
    async with list_client, detail_client:
        return await reconcile_users(postgres.pool(), list_client, detail_client, scope, run_id,
                                     page_size=config.list_page_size(), settings=config.apply_settings())


def scope_for(context: dg.AssetExecutionContext, config: UsersSyncConfig) -> ReconcileScope:
    """Every user on a full refresh; else the (range of) daily window(s) of the run."""
    if config.full_refresh:
        return ReconcileScope.full_refresh()
    keys = context.partition_key_range
    window = context.partition_time_window
    label = keys.start if keys.start == keys.end else f"{keys.start}..{keys.end}"
    return ReconcileScope.for_day(label, window.start, window.end, datetime.now(timezone.utc))


def run_figures(context: dg.AssetExecutionContext, reconcile: ReconcileOutcome | None, applied: ApplyOutcome,
                detail_limit_rps: float) -> RunFigures:
    snapshots = [applied.http] + ([reconcile.list_http] if reconcile is not None else [])
    running = context.instance.get_runs_count(dg.RunsFilter(tags=UPSTREAM_TAG, statuses=[dg.DagsterRunStatus.STARTED]))
    return RunFigures(
        requests=sum(s.get("requests", 0) for s in snapshots),
        failed_attempts=sum(v for s in snapshots for k, v in s.items() if k.startswith("errors_")),
        detail_requests=applied.http.get("requests", 0), detail_rps=applied.detail_rps,
        detail_limit_rps=detail_limit_rps, concurrent_runs=max(running, 1))


def count_live_users(postgres: PostgresResource) -> int:
    with postgres.connection() as conn:
        return conn.execute("SELECT count(*) FROM users WHERE deleted_at IS NULL").fetchone()[0]
