"""`pvp_leaderboard` + `pvp_characters` (one step) -> `pvp_equipment` (a second step), per board.

The first step fetches the whole board and stores the snapshot, its characters and entries in
one transaction; the second applies the equipment rule to the stored snapshot, so a retried
equipment step never refetches the board. Both steps retry (RetryPolicy, exponential backoff
with jitter) after a transient failure only: an upstream that stayed unreachable, the shared
limiter or the database out of reach, a deadlock that outlived its transaction's own retries.
Anything else (a missing leaderboard, an unexpected 404, a bug) fails the step at once.
"""

import dagster as dg

from sync_pipeline import registry
from sync_pipeline.defs.asset_metadata import asset_attributes, table_definition_metadata
from sync_pipeline.defs.pvp.checks import (
    EQUIPMENT_CHECK_SPECS,
    LEADERBOARD_CHECK_SPECS,
    equipment_checks,
    leaderboard_checks,
)
from sync_pipeline.defs.pvp.config import PvpEquipmentConfig
from sync_pipeline.defs.pvp.partitions import board_for_context, pvp_partitions
from sync_pipeline.defs.pvp.resources import PvpApiResource
from sync_pipeline.defs.resources import PostgresResource
from sync_pipeline.defs.step_failures import STEP_RETRY, run_step
from sync_pipeline.entities.pvp import PVP_CHARACTERS, PVP_LEADERBOARD_ENTRIES
from sync_pipeline.pipelines.pvp import stored
from sync_pipeline.pipelines.pvp.equipment import EquipmentOutcome
from sync_pipeline.pipelines.pvp.sync import LeaderboardOutcome, sync_equipment, sync_leaderboard

GROUP = "pvp"
SOURCE = registry.source("pvp")
EQUIPMENT_RULE = (
    "Equipment is fetched only when it can have changed: private and not-found characters are "
    "skipped before any call; a character's latest equipment snapshot is reused and linked when "
    "it is younger than PVP_EQUIPMENT_MAX_AGE (default 24 h) and its stats.played on this board "
    "has not moved since its previous processed entry (or the equipment was fetched after this "
    "leaderboard's snapshot_at); otherwise it is fetched, at most once per character per sync "
    "across brackets (claimed in pvp_characters.equipment_claimed_at). Metadata counts "
    "fetched, reused and skipped."
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "pvp_leaderboard",
            group_name=GROUP,
            kinds={"postgres"},
            description="Tables pvp_leaderboards and pvp_leaderboard_entries: one snapshot per "
            "sync with its snapshot_at, entries inserted in bulk (a stored snapshot is not "
            "stored again). One partition per leaderboard (region x bracket).",
            metadata=table_definition_metadata(PVP_LEADERBOARD_ENTRIES),
            **asset_attributes("pvp", "table"),
        ),
        dg.AssetSpec(
            "pvp_characters",
            group_name=GROUP,
            kinds={"postgres"},
            description="Table pvp_characters: upserted in bulk (returning ids), unique on "
            "character id and region; name and realm changes logged in sync_change_log. One "
            "partition per leaderboard (region x bracket): the characters on that board.",
            metadata=table_definition_metadata(PVP_CHARACTERS),
            **asset_attributes("pvp", "table"),
        ),
    ],
    check_specs=LEADERBOARD_CHECK_SPECS,
    partitions_def=pvp_partitions,
    pool=SOURCE.pool,
    op_tags=SOURCE.run_tags,
    retry_policy=STEP_RETRY,
    name="pvp_leaderboard_sync",
)
def pvp_leaderboard_sync(
    context: dg.AssetExecutionContext, postgres: PostgresResource, pvp_api: PvpApiResource
):
    board = board_for_context(context)
    client = pvp_api.client(postgres, log=context.log)
    outcome = run_step(_leaderboard(postgres, client, board, context.run.run_id))
    with postgres.connection() as conn:
        private = stored.private_characters(conn, board.region)
        checks = leaderboard_checks(outcome, conn)
    yield dg.MaterializeResult(asset_key="pvp_leaderboard", metadata=leaderboard_metadata(outcome))
    yield dg.MaterializeResult(
        asset_key="pvp_characters", metadata=characters_metadata(outcome, private)
    )
    yield from checks


@dg.asset(
    group_name=GROUP,
    deps=["pvp_characters"],
    kinds={"postgres"},
    description="Tables pvp_equipment_items, pvp_equipped_items and pvp_equipment_snapshots. "
    + EQUIPMENT_RULE,
    **asset_attributes("pvp", "table"),
    check_specs=EQUIPMENT_CHECK_SPECS,
    partitions_def=pvp_partitions,
    pool=SOURCE.pool,
    op_tags=SOURCE.run_tags,
    retry_policy=STEP_RETRY,
)
def pvp_equipment(
    context: dg.AssetExecutionContext,
    config: PvpEquipmentConfig,
    postgres: PostgresResource,
    pvp_api: PvpApiResource,
):
    board = board_for_context(context)
    settings = config.settings()
    client = pvp_api.client(postgres, log=context.log)
    outcome = run_step(_equipment(postgres, client, board, context.run.run_id, settings))
    yield dg.MaterializeResult(metadata=equipment_metadata(outcome))
    with postgres.connection() as conn:
        yield from equipment_checks(board, settings, config.min_equipment_coverage, conn)


async def _leaderboard(postgres, client, board, run_id) -> LeaderboardOutcome:
    async with client:
        return await sync_leaderboard(postgres.pool(), client, board, run_id)


async def _equipment(postgres, client, board, run_id, settings) -> EquipmentOutcome:
    async with client:
        return await sync_equipment(postgres.pool(), client, board, run_id, settings)


def leaderboard_metadata(o: LeaderboardOutcome) -> dict:
    w = o.write
    return {
        "board": o.board.label,
        "snapshot_id": w.snapshot_id,
        "snapshot_at": w.snapshot_at.isoformat(),
        "stored_now": w.created,
        "entries_received": o.received,
        "entries_stored": w.entries,
        "quarantined": o.rejected,
        "duplicates_dropped": o.duplicates,
        "statements": w.statements,
        "db_seconds": float(w.db_seconds),
        "fetch_seconds": float(o.fetch_s),
        "db_retries": o.db_retries,
    }


def characters_metadata(o: LeaderboardOutcome, private: int) -> dict:
    w = o.write
    return {
        "inserted": w.characters_inserted,
        "updated": w.characters_updated,
        "name_or_realm_changes_logged": w.renames_logged,
        "private_in_region": private,
    }


def equipment_metadata(o: EquipmentOutcome) -> dict:
    span = (o.last_response_at or 0.0) - (o.first_request_at or 0.0)
    return {
        "entries": o.entries,
        "fetched": o.fetched,
        "reused": o.reused,
        "skipped": o.skipped,
        "skipped_private": o.skipped_private,
        "skipped_not_found": o.skipped_not_found,
        "left_to_other_boards": o.claimed_elsewhere,
        "became_private": o.became_private,
        "became_not_found": o.became_not_found,
        "failed_calls": o.failed,
        "requests": o.requests,
        "requests_per_s": float(o.requests / span) if span > 0 else 0.0,
        "slots_written": o.slots_written,
        "slots_removed": o.slots_removed,
        "catalogue_items_written": o.catalogue_written,
        "entries_linked": o.linked,
        "snapshot_processed": o.processed,
        "write_batches": o.batches,
        "statements": o.statements,
        "db_seconds": float(o.db_seconds),
        "db_retries": o.db_retries,
        "waited_for_other_boards_s": float(o.waited_s),
        "summary": dg.MetadataValue.md(summary_markdown(o)),
    }


def summary_markdown(o: EquipmentOutcome) -> str:
    return "\n".join(
        [
            f"**pvp {o.board.label}** equipment of {o.entries:,} entries",
            "",
            (
                "| fetched | reused | skipped (private / not found) | became private / not found "
                "| failed | slots written |"
            ),
            "|---:|---:|---:|---:|---:|---:|",
            (
                f"| {o.fetched:,} | {o.reused:,} | {o.skipped_private:,} / "
                f"{o.skipped_not_found:,} | {o.became_private:,} / {o.became_not_found:,} "
                f"| {o.failed:,} | {o.slots_written:,} |"
            ),
        ]
    )
