"""`sync-pipeline demo`: the project's main job end to end, on the embedded parts.

1. migrate and check the database, load the Dagster definitions;
2. full refresh of the cars catalogue (200k cars; `--quick`: 20k) through Dagster;
3. on the embedded upstream: update 1% of the cars and touch 5% (volatile fields only);
4. an incremental run of today's partition, printing exactly what changed;
5. pvp: the four `eu` leaderboards (one run each), then 5% of the characters play a game and
   the same boards run again: equipment is requested for exactly the public ones that played;
6. stores: the store list (a partition per store), one store's token expired on the embedded
   upstream, then every store's users and videos in one run: that store fails alone, with its
   reason in `sync_logs`, and the others load.
Runs go to the PostgreSQL-backed Dagster instance, so `sync-pipeline dev` shows them afterwards.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import dagster as dg

from sync_pipeline.db.connect import app_database_url, connect
from sync_pipeline.db.migrations import migrate
from sync_pipeline.defs.cars.jobs import CARS_SOURCE_SYNC
from sync_pipeline.defs.pvp.jobs import PVP_SOURCE_SYNC
from sync_pipeline.defs.stores.jobs import STORES_SOURCE_SYNC
from sync_pipeline.entities.pvp import BRACKETS
from sync_pipeline.instance import persistent_instance
from sync_pipeline.settings import settings, source_env_names
from sync_pipeline.sources import (
    execute_source_run,
    failed_blocking_checks,
    materialization_metadata,
    print_summary,
)
from sync_pipeline.upstream.process import start_for_unset_sources

DEMO_PAGE_SIZE = 1000
PVP_DEMO_REGION = "eu"
PVP_DEMO_PLAYED = 0.05
QUICK_SIZES = {
    "cars": 20_000,
    "users": 2_000,
    "stores": 20,
    "leaderboard_entries": 500,
    "contacts": 2_000,
    "workspaces": 2,
}


def run_demo(quick: bool = False) -> int:
    settings()
    url = app_database_url()
    applied = migrate(url)
    with connect(url) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]
    print(
        f"database: {url.masked()} (PostgreSQL {server}), {len(applied)} migration(s) applied now"
    )
    from sync_pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    counts = [
        counted(len(repo.asset_graph.get_all_asset_keys()), "asset"),
        counted(len(repo.sensor_defs), "sensor"),
        counted(len(repo.schedule_defs), "schedule"),
        counted(len(repo.job_names), "job"),
    ]
    print(f"definitions: {', '.join(counts)}")

    with ExitStack() as stack:
        upstream = start_for_unset_sources(stack, os.environ, sizes=QUICK_SIZES if quick else None)
        instance = stack.enter_context(persistent_instance(url))
        stack.enter_context(dg.partition_loading_context(dynamic_partitions_store=instance))
        if _cars_demo(instance, upstream) != 0 or pvp_demo(instance, upstream) != 0:
            return 1
        return stores_demo(instance, upstream)


def counted(count: int, noun: str) -> str:
    """`1 sensor`, `3 sensors`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _cars_demo(instance: dg.DagsterInstance, upstream) -> int:
    config = {"page_size": DEMO_PAGE_SIZE}
    print("\n== 1. cars: full refresh ==")
    full = execute_source_run(
        CARS_SOURCE_SYNC, instance, full_refresh=True, partition=None, op_config=config
    )
    print_summary(full, CARS_SOURCE_SYNC)
    if not full.success or failed_blocking_checks(full):
        return 1
    if upstream is None:
        print("\nSYNC_CARS_API_URL points at a real API: skipping the mutation step of the demo.")
        return 0
    mutation = upstream.admin("mutate", {"source": "cars", "update": 0.01, "touch": 0.05})
    print(
        f"\n== 2. upstream changed: {len(mutation['updated']):,} cars updated, "
        f"{len(mutation['touched']):,} touched (volatile fields only) =="
    )
    print("\n== 3. cars: incremental run of today's partition ==")
    incremental = execute_source_run(
        CARS_SOURCE_SYNC, instance, full_refresh=False, partition=None, op_config=config
    )
    print_summary(incremental, CARS_SOURCE_SYNC)
    written = _written_ids(incremental)
    print(
        f"\nexpected {len(mutation['updated']):,} updated, touched ones ignored: "
        f"{'yes' if written == set(mutation['updated']) else 'NO'}"
    )
    return 0 if incremental.success and not failed_blocking_checks(incremental) else 1


def _written_ids(result: dg.ExecuteInProcessResult) -> set[int]:
    from sync_pipeline.pipelines.cars import PIPELINE

    url = app_database_url()
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT record_key FROM sync_change_log WHERE run_id = %s AND entity = %s",
            (result.run_id, PIPELINE),
        ).fetchall()
    return {int(key) for (key,) in rows}


def pvp_demo(instance: dg.DagsterInstance, upstream) -> int:
    """Steps 4-6: the `eu` boards, 5% of the characters play, the boards again; 1 when a run
    or a blocking check failed or the re-sync's equipment requests are not the expected ones."""
    boards = [f"{PVP_DEMO_REGION}|{bracket}" for bracket in BRACKETS]
    print(
        f"\n== 4. pvp: the {len(boards)} {PVP_DEMO_REGION} leaderboards, one run each "
        "(a character on several brackets is fetched once) =="
    )
    first = _pvp_runs(instance, boards)
    if first is None:
        return 1
    embedded = upstream is not None and os.environ.get(source_env_names("pvp")[0]) == upstream.url
    if not embedded:
        print("\nSYNC_PVP_API_URL points at a real API: skipping the mutation step of the demo.")
        return 0
    mutation = upstream.admin("mutate", {"source": "pvp", "update": PVP_DEMO_PLAYED})
    expected = _public_characters(PVP_DEMO_REGION, mutation["updated"])
    print(
        f"\n== 5. upstream changed: {len(mutation['updated']):,} characters played, "
        f"{expected:,} of them public on the {PVP_DEMO_REGION} boards =="
    )
    print("\n== 6. pvp: the same leaderboards again ==")
    again = _pvp_runs(instance, boards)
    if again is None:
        return 1
    requests = sum(materialization_metadata(r, "pvp_equipment")["requests"] for r in again)
    print(
        f"\nequipment requests {requests:,}, expected {expected:,} (the public characters that "
        f"played): {'yes' if requests == expected else 'NO'}"
    )
    return 0 if requests == expected else 1


def _pvp_runs(
    instance: dg.DagsterInstance, boards: list[str]
) -> list[dg.ExecuteInProcessResult] | None:
    """One run per board, summaries printed; None when one failed."""
    results = []
    for board in boards:
        result = execute_source_run(PVP_SOURCE_SYNC, instance, full_refresh=False, partition=board)
        print_summary(result, PVP_SOURCE_SYNC)
        if not result.success or failed_blocking_checks(result):
            return None
        results.append(result)
    return results


def _public_characters(region: str, character_ids: list[int]) -> int:
    """Characters among `character_ids` stored for `region` and neither private nor gone."""
    with connect(app_database_url()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pvp_characters WHERE region = %s AND character_id = ANY(%s) "
            "AND NOT is_private AND not_found_at IS NULL",
            (region, character_ids),
        ).fetchone()
    return row[0]


def stores_demo(instance: dg.DagsterInstance, upstream) -> int:
    """Steps 7-8: the store list, then every store in one run, one of them with an expired
    token on the embedded upstream; 1 when a run or a blocking check failed, or a store other
    than the expired one failed. Needs a partition-loading context on `instance`."""
    print("\n== 7. stores: the store list, one partition per store ==")
    STORES_SOURCE_SYNC.prepare_partitions(instance)
    embedded = (
        upstream is not None and os.environ.get(source_env_names("stores")[0]) == upstream.url
    )
    codes = list(STORES_SOURCE_SYNC.partitions.get_partition_keys())
    expired = codes[len(codes) // 2] if embedded and codes else None
    if expired is not None:
        upstream.admin("faults", {"source": "stores", "expired_stores": [expired]})
        print(f"upstream: the token of store {expired} has expired (403 store_token_expired)")
    print(f"\n== 8. stores: users and videos of all {len(codes)} stores in one run ==")
    results = list(STORES_SOURCE_SYNC.execute(instance, True, [None]))
    for result in results:
        print_summary(result, STORES_SOURCE_SYNC)
    if not all(r.success and not failed_blocking_checks(r) for r in results):
        return 1
    with connect(app_database_url()) as conn:
        failed = conn.execute(
            "SELECT job_name, store_code, message FROM sync_logs WHERE run_id = %s "
            "AND status = 'failed' ORDER BY store_code, job_name",
            (results[-1].run_id,),
        ).fetchall()
    for job_name, code, message in failed:
        print(f"sync_logs: {job_name} of {code} failed: {message}")
    return 0 if {code for _, code, _ in failed} <= {expired} else 1
