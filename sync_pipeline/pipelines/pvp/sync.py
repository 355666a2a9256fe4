"""A pvp sync without Dagster: leaderboards, their characters, then their equipment.

    outcome = await sync_leaderboard(pool, client, Board("eu", "3v3"), run_id)
    equipment = await sync_equipment(pool, client, Board("eu", "3v3"), run_id, settings)
    # or every board, `settings.sync_threads` at once:
    outcomes = await sync_boards(pool, client, ALL_BOARDS, run_id, settings)

The client (one per pvp API key, its limiter shared in PostgreSQL) bounds the calls in flight to
`settings.processing_threads` and paces them under the API's limit; every board shares it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient
from sync_pipeline.engine.transactions import TransactionRetry
from sync_pipeline.pipelines.pvp.equipment import EquipmentOutcome, sync_snapshot_equipment
from sync_pipeline.pipelines.pvp.leaderboard import Board, BoardWrite, fetch_board, write_board
from sync_pipeline.pipelines.pvp.settings import PvpSettings

PIPELINE = "pvp"
LATEST_SNAPSHOT = (
    "SELECT id, snapshot_at FROM pvp_leaderboards WHERE region = %s AND bracket = %s "
    "ORDER BY snapshot_at DESC LIMIT 1"
)


class NoSnapshot(LookupError):
    """The board has no stored snapshot yet: sync its leaderboard first."""


@dataclass
class LeaderboardOutcome:
    board: Board
    received: int
    rejected: int
    duplicates: int
    write: BoardWrite
    fetch_s: float
    elapsed_s: float
    db_retries: int = 0


@dataclass
class BoardOutcome:
    leaderboard: LeaderboardOutcome
    equipment: EquipmentOutcome


async def sync_leaderboard(
    pool: ConnectionPool,
    client: ApiClient,
    board: Board,
    run_id: str,
    retry: TransactionRetry | None = None,
) -> LeaderboardOutcome:
    """Fetch the board and store its snapshot, characters and entries (a stored snapshot is
    found again, not written twice)."""
    retry = retry or TransactionRetry()
    started = time.monotonic()
    fetched = await fetch_board(client, board)
    fetch_s = time.monotonic() - started
    write = await asyncio.to_thread(write_board, pool, fetched, run_id, retry)
    return LeaderboardOutcome(
        board,
        len(fetched.rows) + len(fetched.rejected) + fetched.duplicates,
        len(fetched.rejected),
        fetched.duplicates,
        write,
        fetch_s,
        time.monotonic() - started,
        retry.retries,
    )


async def sync_equipment(
    pool: ConnectionPool,
    client: ApiClient,
    board: Board,
    run_id: str,
    settings: PvpSettings,
    snapshot: tuple[int, datetime] | None = None,
    retry: TransactionRetry | None = None,
    sync_started_at: datetime | None = None,
) -> EquipmentOutcome:
    """The equipment pass over `snapshot` (id, snapshot_at), by default the board's latest
    stored snapshot; raises `NoSnapshot` when there is none."""
    if snapshot is None:
        snapshot = await asyncio.to_thread(latest_snapshot, pool, board)
    return await sync_snapshot_equipment(
        pool, client, board, snapshot[0], snapshot[1], run_id, settings, retry, sync_started_at
    )


async def sync_boards(
    pool: ConnectionPool,
    client: ApiClient,
    boards: list[Board] | tuple[Board, ...],
    run_id: str,
    settings: PvpSettings,
) -> list[BoardOutcome]:
    """Every board, leaderboard then equipment, `settings.sync_threads` boards at once."""
    slots = asyncio.Semaphore(settings.sync_threads)
    started_at = await asyncio.to_thread(database_now, pool)

    async def one(board: Board) -> BoardOutcome:
        async with slots:
            leaderboard = await sync_leaderboard(pool, client, board, run_id)
            write = leaderboard.write
            equipment = await sync_equipment(
                pool,
                client,
                board,
                run_id,
                settings,
                (write.snapshot_id, write.snapshot_at),
                sync_started_at=started_at,
            )
            return BoardOutcome(leaderboard, equipment)

    return list(await asyncio.gather(*(one(board) for board in boards)))


def database_now(pool: ConnectionPool) -> datetime:
    with pool.connection() as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def latest_snapshot(pool: ConnectionPool, board: Board) -> tuple[int, datetime]:
    with pool.connection() as conn:
        row = conn.execute(LATEST_SNAPSHOT, (board.region, board.bracket)).fetchone()
    if row is None:
        raise NoSnapshot(f"no stored snapshot of {board.label}; sync its leaderboard first")
    return row
