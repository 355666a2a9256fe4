"""`kill -9` of a run worker at several points of a full refresh: the next run resumes from
the checkpoint, fetches only the pages after it, and the table ends equal to the upstream.

The kill points are chosen by progress (the checkpoint has reached page N) plus a seeded delay
of up to 150 ms, so the worker dies while fetching, copying or merging, whichever it is doing.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psycopg

from sync_pipeline.db.pool import open_pool
from sync_pipeline.entities.cars import CARS
from sync_pipeline.entities.contacts import CONTACTS
from sync_pipeline.entities.stores import STORE_USERS, STORE_VIDEOS, STORES
from sync_pipeline.entities.users import USERS
from sync_pipeline_tests.defs.users.conftest import upstream_users
from sync_pipeline_tests.reliability.plugin import Figures
from sync_pipeline_tests.reliability.pvp_truth import compare_board, read_board
from sync_pipeline_tests.reliability.sources import (
    CARS_SETTINGS,
    CONTACTS_SETTINGS,
    cars_full_refresh,
    contacts_full_refresh,
    new_run_id,
    pvp_board,
    stores_full_run,
    users_full_sync,
)
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.truth import (
    compare,
    contact_records,
    cursor_records,
    page_records,
)
from sync_pipeline_tests.reliability.worker import PVP_BOARD

CARS_COUNT = 1600
START_TIMEOUT_S = 90


def committed_page(db: psycopg.Connection) -> int:
    row = db.execute(
        "SELECT page FROM sync_checkpoints WHERE pipeline = 'cars' AND partition = 'full' "
        "AND status <> 'completed'"
    ).fetchone()
    return (row[0] or 0) if row else 0


def contacts_pages(db: psycopg.Connection) -> int:
    """Pages committed by contacts runs, over every workspace."""
    row = db.execute(
        "SELECT coalesce(sum(page), 0) FROM sync_checkpoints WHERE pipeline = 'contacts'"
    ).fetchone()
    return row[0]


def kill_worker_at(
    db_url,
    db: psycopg.Connection,
    upstream_url: str,
    page: int,
    delay_s: float,
    source: str = "cars",
    progress: Callable[[psycopg.Connection], int] = committed_page,
) -> int:
    """Start a worker and SIGKILL it once its progress reaches `page` (plus `delay_s`); the
    progress committed when it died."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "sync_pipeline_tests.reliability.worker", source]
        + [db_url.raw, upstream_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while progress(db) < page and worker.poll() is None:
            assert time.monotonic() < deadline, "the worker never reached the kill point"
            time.sleep(0.02)
        time.sleep(delay_s)
        assert worker.poll() is None, f"the worker ended before page {page}"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    return progress(db)


def test_cars_killed_workers_resume_and_converge(
    fresh_upstream, db_url, db, seed, soak, figures: Figures
):
    server = fresh_upstream(seed, cars=CARS_COUNT)
    server.admin("faults", {"source": "cars", "latency_ms": [120, 250]})
    pages = -(-CARS_COUNT * (4 if soak else 1) // CARS_SETTINGS.page_size)
    draw = random.Random(seed)
    points = sorted(draw.sample(range(2, pages * 2 // 3), 4 if soak else 2))
    kills = 0
    for page in points:
        died_at = kill_worker_at(db_url, db, server.url, page, draw.uniform(0, 0.15))
        assert died_at >= page
        kills += 1
    resume_from = committed_page(db) + 1
    server.admin("faults", {"source": "cars", "latency_ms": [0, 0]})
    server.admin("stats/reset", {})
    with open_pool(db_url, max_size=6, name="resumed") as pool:
        outcome = cars_full_refresh(pool, server)
    assert outcome.resumed_from_page == resume_from
    fetched = server.admin("stats")["endpoints"]["cars.list"]["requests"]
    rereads = outcome.walk.reread_pages  # page boundaries re-read to decide delistings
    past_the_end = 1  # the last page is full, so the walk asks for the next to see the end
    assert fetched <= pages - resume_from + 1 + past_the_end + rereads, (
        f"pages before the checkpoint fetched again: {fetched} requests, {rereads} re-reads"
    )
    truth = page_records(server.url, "/cars")
    assert_exact(
        figures,
        "kill -9 of the run worker at seeded points",
        kills,
        compare(db, CARS, truth, seed, "cars"),
    )


def test_contacts_killed_workers_resume_and_converge(
    fresh_upstream, db_url, db, seed, soak, figures: Figures
):
    server = fresh_upstream(seed, contacts=600, workspaces=2)
    server.admin("faults", {"source": "contacts", "latency_ms": [120, 250]})
    pages = 600 * (4 if soak else 1) // CONTACTS_SETTINGS.page_size
    draw = random.Random(seed)
    points = sorted(draw.sample(range(2, pages * 2 // 3), 4 if soak else 2))
    for page in points:
        died_at = kill_worker_at(
            db_url, db, server.url, page, draw.uniform(0, 0.15), "contacts", contacts_pages
        )
        assert died_at >= page
    server.admin("faults", {"source": "contacts", "latency_ms": [0, 0]})
    truth = contact_records(server.url)
    budget = contacts_pages_due(db, truth)
    server.admin("stats/reset", {})
    with open_pool(db_url, max_size=6, name="resumed") as pool:
        contacts_full_refresh(pool, server)
    fetched = server.admin("stats")["endpoints"]["contacts.list"]["requests"]
    assert fetched <= budget, f"pages fetched again: {fetched} requests for {budget} due"
    assert_exact(
        figures,
        "kill -9 of the run worker at seeded points",
        len(points),
        compare(db, CONTACTS, truth, seed, "contacts"),
    )


def contacts_pages_due(db: psycopg.Connection, truth: list[dict]) -> int:
    """List pages the next full run should fetch: a workspace the killed run finished is walked
    again whole (a new full refresh), an unfinished one from its checkpoint on."""
    size = CONTACTS_SETTINGS.page_size
    left = {
        partition.split(":")[0]: (status, page or 0)
        for partition, status, page in db.execute(
            "SELECT partition, status, page FROM sync_checkpoints WHERE pipeline = 'contacts'"
        ).fetchall()
    }
    due = 0
    for workspace in {c["workspace_id"] for c in truth}:
        pages = -(-sum(c["workspace_id"] == workspace for c in truth) // size)
        status, done = left.get(workspace, ("none", 0))
        due += pages if status == "completed" else pages - done + 1  # +1: the last may be full
    return due


def stores_done(db: psycopg.Connection) -> int:
    """Stores whose users or videos a run has finished (each logs a row as it ends)."""
    return db.execute("SELECT count(*) FROM sync_logs WHERE store_code IS NOT NULL").fetchone()[0]


def users_with_detail(db: psycopg.Connection) -> int:
    return db.execute("SELECT count(*) FROM users WHERE detail_synced_at IS NOT NULL").fetchone()[0]


def pvp_entries(db: psycopg.Connection) -> int:
    return db.execute("SELECT count(*) FROM pvp_leaderboard_entries").fetchone()[0]


def kill_at_seeded_points(db_url, db, server, seed, source, progress, points_from, soak) -> int:
    """SIGKILL a worker of `source` at 2 (4 under `--soak`) seeded progress points drawn from
    `points_from`; the number of kills."""
    draw = random.Random(seed)
    points = sorted(draw.sample(points_from, 4 if soak else 2))
    for point in points:
        reached = kill_worker_at(
            db_url, db, server.url, point, draw.uniform(0, 0.15), source, progress
        )
        assert reached >= point
    return len(points)


def test_stores_killed_workers_converge(fresh_upstream, db_url, db, seed, soak, figures: Figures):
    """A store's users and videos are written as one snapshot of that store, so a store the
    killed run had not finished is synced whole by the next run; the finished ones are synced
    again too (a new run is a new snapshot), and nothing is lost or doubled either way."""
    stores = 8 * (4 if soak else 1)
    server = fresh_upstream(seed, stores=8)
    server.admin("faults", {"source": "stores", "latency_ms": [60, 150]})
    kills = kill_at_seeded_points(
        db_url, db, server, seed, "stores", stores_done, range(1, stores * 4 // 3), soak
    )
    server.admin("faults", {"source": "stores", "latency_ms": [0, 0]})
    with open_pool(db_url, max_size=6, name="resumed") as pool:
        _, run = stores_full_run(pool, server)
    assert not run.failed_stores, run.failed_stores
    listed = cursor_records(server.url, "/stores")
    truth = {
        kind: [r for s in listed for r in cursor_records(server.url, f"/stores/{s['code']}/{kind}")]
        for kind in ("users", "videos")
    }
    assert_exact(
        figures,
        "kill -9 of the run worker at seeded points",
        kills,
        compare(db, STORES, listed, seed, "stores"),
        compare(db, STORE_USERS, truth["users"], seed, "store_users"),
        compare(db, STORE_VIDEOS, truth["videos"], seed, "store_videos"),
    )


def test_users_killed_workers_resume_and_converge(
    fresh_upstream, db_url, db, seed, soak, figures: Figures
):
    """Killed during the detail backfill: the next sync fetches only the details still missing
    (plus the few that were in flight when it died), never the stored ones again."""
    server = fresh_upstream(seed, users=120)
    total = 120 * (4 if soak else 1)
    slow_details = {"source": "users", "endpoint": "users.detail", "latency_ms": [250, 400]}
    server.admin("faults", slow_details)
    kills = kill_at_seeded_points(
        db_url, db, server, seed, "users", users_with_detail, range(5, total // 2), soak
    )
    missing = total - users_with_detail(db)
    assert missing > 0, "the kills came after the backfill had finished"
    server.admin("faults", {**slow_details, "latency_ms": [0, 0]})
    server.admin("stats/reset", {})
    with open_pool(db_url, max_size=6, name="resumed") as pool:
        users_full_sync(pool, server)
    fetched = server.admin("stats")["endpoints"].get("users.detail", {}).get("requests", 0)
    in_flight = 16  # details the killed worker had asked for but not stored
    assert fetched <= missing + in_flight, f"{fetched} details fetched for {missing} missing"
    truth = list(upstream_users(server.url).values())
    assert_exact(
        figures,
        "kill -9 of the run worker at seeded points",
        kills,
        compare(db, USERS, truth, seed, "users"),
    )


def test_pvp_killed_workers_converge(fresh_upstream, db_url, db, seed, soak, figures: Figures):
    """Killed while a board's entries and equipment are written: the board's next run takes
    over the equipment calls the dead runs had claimed (instead of leaving them to a run that is
    gone and waiting `claim_wait_s` for them) and leaves the board equal to the upstream's."""
    entries = 150 * (4 if soak else 1)
    server = fresh_upstream(seed, leaderboard_entries=150)
    server.admin("faults", {"source": "pvp", "latency_ms": [40, 90]})
    kills = kill_at_seeded_points(
        db_url, db, server, seed, "pvp", pvp_entries, range(1, entries // 2), soak
    )
    server.admin("faults", {"source": "pvp", "latency_ms": [0, 0]})
    run_id = new_run_id()
    with open_pool(db_url, max_size=6, name="resumed") as pool:
        [outcome] = pvp_board(pool, server, PVP_BOARD, run_id)
    # The killed runs' claims died with their sessions: taken over, never waited for.
    assert outcome.equipment.waited_s < 1.0 and outcome.equipment.claimed_elsewhere == 0
    truth = read_board(server.url, PVP_BOARD)
    assert_exact(
        figures,
        "kill -9 of the run worker at seeded points",
        kills,
        *compare_board(db, PVP_BOARD, truth, seed, run_id),
    )
