"""`stores` (the list, one dynamic partition per store) -> `stores_sync`: every selected store's
users and videos in one step, many stores at once under the one per-app limit.

`stores_sync` materializes, per store and per listing, the snapshot (pages fetched), the change
set and the table, as one `AssetMaterialization` per partition: a store that failed (e.g.
`403 store_token_expired`) is simply not materialized, its reason is in `sync_logs` and in the
checks, and the run goes on. A backfill of any number of stores is one run
(`BackfillPolicy.single_run`); `sync_store_group` is the unit a worker can run for any group.
"""

import logging
from collections.abc import Iterable, Iterator, Sequence

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.asset_metadata import (
    asset_attributes,
    table_definition_metadata,
    table_row_count,
)
from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.defs.source_sync import RESULT_TAG
from sync_pipeline.defs.step_failures import STEP_RETRY, run_step
from sync_pipeline.defs.stores.checks import (
    MEMBER_CHECK_SPECS,
    STORES_CHECK_SPECS,
    live_rows_by_store,
    member_checks,
    stores_checks,
)
from sync_pipeline.defs.stores.config import StoresSyncConfig
from sync_pipeline.defs.stores.partitions import register_store_partitions, stores_partitions
from sync_pipeline.defs.stores.resources import StoresApiResource
from sync_pipeline.entities.stores import STORE_USERS, STORE_VIDEOS, STORES
from sync_pipeline.pipelines.stores import (
    JOB_NAMES,
    StoreListOutcome,
    StoreOutcome,
    StoresRunOutcome,
    StoresSyncSettings,
    sync_store_list,
    sync_stores,
)
from sync_pipeline.pipelines.stores.store_list import live_codes_by_region

GROUP = "stores"
SOURCE = registry.source("stores")
CHANGED_IDS_SAMPLE = 20
LISTING_WORDS = {"store_users": "users", "store_videos": "videos"}
MEMBER_ENTITIES = {"store_users": STORE_USERS, "store_videos": STORE_VIDEOS}
PARTITIONS_MEAN = (
    " One partition per store (registered by the `stores` asset from the store list); a run of "
    "many stores materializes each store's partition with its own figures."
)


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    metadata=table_definition_metadata(STORES),
    **asset_attributes("stores", "table"),
    check_specs=STORES_CHECK_SPECS,
    pool=SOURCE.pool,
    op_tags=SOURCE.run_tags,
    retry_policy=STEP_RETRY,
    description="Table `stores`: the whole store list. Registers a `stores` partition for every "
    "new store and deletes the partition of every store that left the list (its row, users and "
    "videos are soft-deleted).",
)
def stores(
    context: dg.AssetExecutionContext, postgres: PostgresResource, stores_api: StoresApiResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    settings = StoresSyncSettings.from_env()
    client = stores_api.client(postgres, stores_api.stores_config(settings), log=context.log)
    outcome = run_step(_store_list(postgres, client, context.run.run_id))
    added, retired = register_store_partitions(
        context.instance, live_codes_by_region(postgres.pool())
    )
    context.log.info(
        f"stores: {len(outcome.live_codes)} live, {len(added)} partitions added, "
        f"{len(retired)} retired"
    )
    yield dg.MaterializeResult(metadata=store_list_metadata(outcome, added, retired))
    yield from stores_checks(context.instance, outcome, postgres.pool())


async def _store_list(postgres: PostgresResource, client, run_id: str) -> StoreListOutcome:
    async with client:
        return await sync_store_list(postgres.pool(), client, run_id)


def member_specs(job_name: str) -> list[dg.AssetSpec]:
    """The snapshot, change set and table of one per-store listing (`store_users`)."""
    word = LISTING_WORDS[job_name]
    return [
        dg.AssetSpec(
            f"{job_name}_snapshot",
            group_name=GROUP,
            deps=["stores"],
            kinds={"python"},
            skippable=True,
            description=f"Every page of /stores/{{code}}/{word} of the store, deduplicated."
            + PARTITIONS_MEAN,
            **asset_attributes("stores", "snapshot"),
        ),
        dg.AssetSpec(
            f"{job_name}_changes",
            group_name=GROUP,
            deps=[f"{job_name}_snapshot"],
            kinds={"python"},
            skippable=True,
            description=f"The store's change set of {word}: inserted, updated, unchanged, "
            "soft-deleted and quarantined, with the changed ids (sync_change_log)."
            + PARTITIONS_MEAN,
            **asset_attributes("stores", "changes"),
        ),
        dg.AssetSpec(
            job_name,
            group_name=GROUP,
            deps=[f"{job_name}_changes"],
            kinds={"postgres"},
            skippable=True,
            description=f"Table `{job_name}`: the store's {word}, keyed (store_code, id); the "
            "store is one scope, so a full listing soft-deletes only that store's missing rows."
            + PARTITIONS_MEAN,
            metadata=table_definition_metadata(MEMBER_ENTITIES[job_name]),
            **asset_attributes("stores", "table"),
        ),
    ]


@dg.multi_asset(
    specs=[spec for job_name in JOB_NAMES for spec in member_specs(job_name)],
    check_specs=MEMBER_CHECK_SPECS,
    partitions_def=stores_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=SOURCE.pool,
    op_tags=SOURCE.run_tags,
    retry_policy=STEP_RETRY,
    name="stores_sync",
    can_subset=True,
    description="Users and videos of every store of the run, many stores at once "
    "(SYNC_CONCURRENCY for users, VIDEO_SYNC_CONCURRENCY for videos) under the one per-app "
    "limit; a failing store fails alone. Select only the users or the videos layers to sync "
    "only those.",
)
def stores_sync(
    context: dg.AssetExecutionContext,
    config: StoresSyncConfig,
    postgres: PostgresResource,
    stores_api: StoresApiResource,
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    codes = list(context.partition_keys)
    job_names = selected_jobs(context.selected_asset_keys)
    context.log.info(f"stores sync of {len(codes)} stores: {', '.join(job_names)}")
    outcome = sync_store_group(
        postgres,
        stores_api,
        codes,
        context.run.run_id,
        config.settings(),
        context.log,
        job_names=job_names,
    )
    context.log.info(outcome.summary())
    context.instance.add_run_tags(context.run.run_id, {RESULT_TAG: result_line(outcome)})
    pool = postgres.pool()
    for job_name in outcome.job_names:
        live = live_rows_by_store(pool, job_name, codes)
        yield from store_materializations(outcome.for_job(job_name), live)
    selected_checks = context.selected_asset_check_keys
    for check in member_checks(outcome, config, pool, context.run.run_id):
        if dg.AssetCheckKey(check.asset_key, check.check_name) in selected_checks:
            yield check


def selected_jobs(selected: Iterable[dg.AssetKey]) -> list[str]:
    """The listings (`store_users`, `store_videos`) any of whose layers are selected."""
    names = {key.to_user_string() for key in selected}
    return [
        job_name
        for job_name in JOB_NAMES
        if names & {f"{job_name}_snapshot", f"{job_name}_changes", job_name}
    ]


def sync_store_group(
    postgres: PostgresResource,
    stores_api: StoresApiResource,
    codes: Sequence[str],
    run_id: str,
    settings: StoresSyncSettings,
    log: logging.Logger | None = None,
    job_names: Sequence[str] = JOB_NAMES,
) -> StoresRunOutcome:
    """Users and videos (`job_names`) of one group of stores, with its own client on the shared
    limit: the unit a step or a worker runs. Store failures are in the outcome."""
    client = stores_api.client(postgres, stores_api.stores_config(settings), log=log)

    async def run() -> StoresRunOutcome:
        async with client:
            return await sync_stores(
                postgres.pool(), client, codes, run_id, settings, job_names=job_names, logger=log
            )

    return run_step(run())


def result_line(outcome: StoresRunOutcome) -> str:
    """`298 of 300 stores` (a run tag has to stay short; the reasons are in the checks)."""
    return f"{outcome.stores_ok} of {len(outcome.codes)} stores"


def store_materializations(
    outcomes: Sequence[StoreOutcome], live_rows: dict[str, int]
) -> Iterator[dg.AssetMaterialization]:
    """Snapshot, change set and table of every store that synced; nothing for a failed one."""
    for o in outcomes:
        if not o.ok:
            continue
        r = o.result
        yield dg.AssetMaterialization(
            asset_key=f"{o.job_name}_snapshot",
            partition=o.code,
            metadata={"records": o.records, "pages": o.pages, "seconds": float(o.duration_s)},
        )
        yield dg.AssetMaterialization(
            asset_key=f"{o.job_name}_changes",
            partition=o.code,
            metadata={
                "inserted": r.inserted,
                "updated": r.updated,
                "unchanged": r.unchanged,
                "soft_deleted": r.soft_deleted,
                "quarantined": r.quarantined,
                "duplicates_dropped": r.duplicates,
                "diffs_logged": r.diffs_logged,
                "changed_ids_sample": dg.MetadataValue.json(
                    [int(key[1]) for key in r.changed_keys[:CHANGED_IDS_SAMPLE]]
                ),
            },
        )
        yield dg.AssetMaterialization(
            asset_key=o.job_name,
            partition=o.code,
            metadata={
                "live_rows": live_rows.get(o.code, 0),
                "rows_written": r.written,
                **table_row_count(MEMBER_ENTITIES[o.job_name], live_rows.get(o.code, 0)),
            },
        )


def store_list_metadata(outcome: StoreListOutcome, added: list[str], retired: list[str]) -> dict:
    r = outcome.result
    refused = r.snapshot.refused if r.snapshot is not None else None
    return {
        "live_stores": len(outcome.live_codes),
        "records": outcome.records,
        "inserted": r.inserted,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "soft_deleted": r.soft_deleted,
        "partitions_added": len(added),
        "partitions_retired": len(retired),
        "retired_stores": dg.MetadataValue.json(retired),
        "retired_member_rows": sum(outcome.retired_rows.values()),
        "retire_refused": refused or "",
    }
