"""Every source under the `hostile` profile (429 storms, 5xx, hangs, dropped connections,
malformed bodies, shifted pages, odd records) converges to exact equality with the upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from sync_pipeline.db.pool import open_pool
from sync_pipeline.entities.cars import CARS
from sync_pipeline.entities.contacts import CONTACTS
from sync_pipeline.entities.stores import STORE_USERS, STORE_VIDEOS, STORES
from sync_pipeline.entities.users import USERS
from sync_pipeline.pipelines.pvp.leaderboard import Board
from sync_pipeline_tests.defs.users.conftest import upstream_users
from sync_pipeline_tests.reliability.faults import injected, make_hostile
from sync_pipeline_tests.reliability.plugin import Figures
from sync_pipeline_tests.reliability.pvp_truth import compare_board, read_board
from sync_pipeline_tests.reliability.sources import (
    cars_full_refresh,
    contacts_full_refresh,
    new_run_id,
    pvp_board,
    stores_full_run,
    users_full_sync,
)
from sync_pipeline_tests.reliability.truth import (
    Comparison,
    compare,
    contact_records,
    cursor_records,
    page_records,
    read_truth,
)


@pytest.fixture
def pool(db_url) -> Iterator[ConnectionPool]:
    with open_pool(db_url, max_size=6, name="reliability") as opened:
        yield opened


def assert_exact(figures: Figures, fault: str, faults: int, *comparisons: Comparison) -> None:
    """Record the case's figures, then fail on anything lost, duplicated or stale."""
    figures.record(
        fault,
        injected=faults,
        compared=sum(c.compared for c in comparisons),
        lost=sum(len(c.missing) + len(c.quarantined_storable) for c in comparisons),
        duplicated=sum(len(c.duplicated) for c in comparisons),
        stale=sum(len(c.stale) + len(c.undeleted) for c in comparisons),
    )
    assert faults > 0, "the case must have injected faults"
    for comparison in comparisons:
        assert comparison.compared > 0
        assert comparison.exact, comparison.describe()


def test_cars_hostile_converges(fresh_upstream, db, pool, seed, figures):
    server = fresh_upstream(seed, cars=1000)
    make_hostile(server, "cars")
    cars_full_refresh(pool, server)
    faults = injected(server, "cars")
    truth = read_truth(server, "cars", lambda: page_records(server.url, "/cars"))
    assert_exact(figures, "hostile profile", faults, compare(db, CARS, truth, seed, "cars"))


def test_contacts_hostile_converges(fresh_upstream, db, pool, seed, figures):
    server = fresh_upstream(seed, contacts=300, workspaces=2)
    make_hostile(server, "contacts")
    synced = {outcome.workspace_id for outcome in contacts_full_refresh(pool, server)}
    faults = injected(server, "contacts")

    truth = read_truth(server, "contacts", lambda: contact_records(server.url))
    assert synced == {contact["workspace_id"] for contact in truth}
    assert_exact(figures, "hostile profile", faults, compare(db, CONTACTS, truth, seed, "contacts"))


def test_stores_hostile_converges(fresh_upstream, db, pool, seed, figures):
    server = fresh_upstream(seed, stores=3)
    make_hostile(server, "stores", expired_stores=[])  # an expired store is covered elsewhere
    _, run = stores_full_run(pool, server)
    assert not run.failed_stores, run.failed_stores
    faults = injected(server, "stores")

    def every_record() -> dict[str, list[dict]]:
        stores = cursor_records(server.url, "/stores")
        return {
            "stores": stores,
            **{
                kind: [
                    record
                    for store in stores
                    for record in cursor_records(server.url, f"/stores/{store['code']}/{kind}")
                ]
                for kind in ("users", "videos")
            },
        }

    truth = read_truth(server, "stores", every_record)
    assert_exact(
        figures,
        "hostile profile",
        faults,
        compare(db, STORES, truth["stores"], seed, "stores"),
        compare(db, STORE_USERS, truth["users"], seed, "store_users"),
        compare(db, STORE_VIDEOS, truth["videos"], seed, "store_videos"),
    )


def test_pvp_hostile_converges(fresh_upstream, db, pool, seed, figures):
    server = fresh_upstream(seed, leaderboard_entries=100)
    make_hostile(server, "pvp")
    runs = {Board("eu", "3v3"): new_run_id(), Board("us", "2v2"): new_run_id()}
    for board, run_id in runs.items():
        pvp_board(pool, server, board, run_id)
    faults = injected(server, "pvp")
    comparisons = []
    for board, run_id in runs.items():
        truth = read_truth(server, "pvp", lambda board=board: read_board(server.url, board))
        comparisons += compare_board(db, board, truth, seed, run_id)
    assert_exact(figures, "hostile profile", faults, *comparisons)


def test_users_hostile_converges(fresh_upstream, db, pool, seed, figures):
    server = fresh_upstream(seed, users=200)
    listed_before = {user["id"] for user in read_truth(server, "users", lambda: users(server.url))}
    make_hostile(server, "users", vanishing_users=0.03)
    users_full_sync(pool, server)
    faults = injected(server, "users")
    truth = read_truth(server, "users", lambda: users(server.url))
    vanished = listed_before - {user["id"] for user in truth}
    assert_exact(
        figures,
        "hostile profile",
        faults + len(vanished),
        compare(db, USERS, truth, seed, "users"),
    )


def users(base_url: str) -> list[dict]:
    """Every user's detail (the list walked, then each detail)."""
    return list(upstream_users(base_url).values())
