"""A run worker for the kill cases: `python -m sync_pipeline_tests.reliability.worker SOURCE
DATABASE_URL UPSTREAM_URL` runs one full sync of SOURCE (cars, contacts, stores, users, or the
pvp board eu 3v3) in-process, the way the Dagster step does, until it ends or is killed."""

from __future__ import annotations

import sys

from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.pipelines.pvp.leaderboard import Board
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.reliability.sources import (
    cars_full_refresh,
    contacts_full_refresh,
    new_run_id,
    pvp_board,
    stores_full_run,
    users_full_sync,
)

PVP_BOARD = Board("eu", "3v3")
RUNS = {
    "cars": cars_full_refresh,
    "contacts": contacts_full_refresh,
    "stores": stores_full_run,
    "users": users_full_sync,
    "pvp": lambda pool, server: pvp_board(pool, server, PVP_BOARD, new_run_id()),
}


class _Reached(UpstreamProcess):
    """An upstream started by someone else, reached at its URL."""

    def __init__(self, url: str) -> None:
        super().__init__(port=int(url.rsplit(":", 1)[1]))


def main(source: str, database_url: str, upstream_url: str) -> None:
    with open_pool(DatabaseUrl.parse(database_url), max_size=6, name="killed_worker") as pool:
        RUNS[source](pool, _Reached(upstream_url))


if __name__ == "__main__":
    main(*sys.argv[1:4])
