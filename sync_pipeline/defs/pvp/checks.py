"""Asset checks of a pvp partition, judged on what the run measured and what the tables hold.

Wrong data blocks (ranks, characters); budgets and coverage warn, since a slow or flaky
upstream is not wrong data. Each result carries the measured value and its target.
"""

from __future__ import annotations

import dagster as dg
import psycopg

from sync_pipeline.defs.pvp.config import PvpEquipmentConfig
from sync_pipeline.pipelines.pvp import stored
from sync_pipeline.pipelines.pvp.leaderboard import Board
from sync_pipeline.pipelines.pvp.settings import PvpSettings
from sync_pipeline.pipelines.pvp.sync import LeaderboardOutcome

_DEFAULTS = PvpEquipmentConfig()

SMALL_BOARD, SMALL_BOARD_STATEMENTS, LARGE_BOARD_STATEMENTS = 100, 3, 5

LEADERBOARD_CHECK_SPECS = [
    dg.AssetCheckSpec(
        "statements_within_budget",
        asset="pvp_leaderboard",
        description="SQL statements that stored the leaderboard: at most 3 for up to 100 entries, "
        "at most 5 for more (counted on the connection)",
    ),
    dg.AssetCheckSpec(
        "ranks_unique_and_contiguous",
        asset="pvp_leaderboard",
        blocking=True,
        description="ranks of the snapshot are unique and run from 1 with no gap except the "
        "entries set aside (quarantined or repeated)",
    ),
    dg.AssetCheckSpec(
        "entries_have_characters",
        asset="pvp_characters",
        blocking=True,
        description="every entry of the snapshot points at a stored character of the board's "
        "region",
    ),
]
EQUIPMENT_CHECK_SPECS = [
    dg.AssetCheckSpec(
        "equipment_coverage",
        asset="pvp_equipment",
        description="share of the public characters of the latest processed snapshot whose "
        "equipment snapshot is younger than the max age (PVP_EQUIPMENT_MAX_AGE, 24 h): at least "
        f"{_DEFAULTS.min_equipment_coverage:.0%} (min_equipment_coverage); WARN",
        metadata={"target_min_coverage": _DEFAULTS.min_equipment_coverage},
    ),
]


def statement_budget(entries: int) -> int:
    return SMALL_BOARD_STATEMENTS if entries <= SMALL_BOARD else LARGE_BOARD_STATEMENTS


def leaderboard_checks(
    outcome: LeaderboardOutcome, conn: psycopg.Connection
) -> list[dg.AssetCheckResult]:
    write = outcome.write
    budget = statement_budget(write.entries or outcome.received)
    ranks = stored.rank_summary(conn, write.snapshot_id)
    set_aside = outcome.rejected + outcome.duplicates
    orphans = stored.entries_without_character(conn, write.snapshot_id)
    return [
        _result(
            "statements_within_budget",
            "pvp_leaderboard",
            write.statements <= budget,
            dg.AssetCheckSeverity.WARN,
            {"statements": write.statements, "target_max": budget, "entries": write.entries},
        ),
        _result(
            "ranks_unique_and_contiguous",
            "pvp_leaderboard",
            ranks.unique and (ranks.lowest or 1) >= 1 and ranks.gaps == set_aside,
            dg.AssetCheckSeverity.ERROR,
            {
                "entries": ranks.entries,
                "distinct_ranks": ranks.distinct_ranks,
                "gaps": ranks.gaps,
                "entries_set_aside": set_aside,
            },
        ),
        _result(
            "entries_have_characters",
            "pvp_characters",
            orphans == 0,
            dg.AssetCheckSeverity.ERROR,
            {"entries_without_character": orphans, "target": 0},
        ),
    ]


def equipment_checks(
    board: Board, settings: PvpSettings, minimum: float, conn: psycopg.Connection
) -> list[dg.AssetCheckResult]:
    coverage = stored.equipment_coverage(conn, board, settings.equipment_max_age)
    return [
        _result(
            "equipment_coverage",
            "pvp_equipment",
            coverage.snapshot_id is not None and coverage.share >= minimum,
            dg.AssetCheckSeverity.WARN,
            {
                "coverage": float(coverage.share),
                "target_min": float(minimum),
                "public_characters": coverage.public,
                "covered": coverage.covered,
                "max_age_h": settings.equipment_max_age.total_seconds() / 3600,
            },
        ),
    ]


def _result(
    name: str, asset: str, passed: bool, severity: dg.AssetCheckSeverity, metadata: dict
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name, asset_key=asset, passed=bool(passed), severity=severity, metadata=metadata
    )
