"""PostgreSQL restarted in the middle of a full sync of each source that checkpoints or writes
as it goes (cars, contacts, stores, users), on a server of the test's own: the run ends with one
clear error, or retries through it (a store's sync retries its store), and the next run on the
same pool, in the same process, converges to exact equality with the upstream. (pvp is not
here: a run cut mid-board is its `kill -9` case in `test_kill.py`.)"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from sync_pipeline.db.migrations import migrate
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.scratch import create_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.entities.cars import CARS
from sync_pipeline.entities.contacts import CONTACTS
from sync_pipeline.entities.stores import STORE_USERS, STORE_VIDEOS
from sync_pipeline.entities.users import USERS
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.defs.users.conftest import upstream_users
from sync_pipeline_tests.reliability.sources import (
    cars_full_refresh,
    contacts_full_refresh,
    stores_full_run,
    users_full_sync,
)
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.test_kill import (
    committed_page,
    contacts_pages,
    stores_done,
    users_with_detail,
)
from sync_pipeline_tests.reliability.truth import (
    Comparison,
    compare,
    contact_records,
    cursor_records,
    page_records,
)

WAIT_S = 90
SESSION_CUT = re.compile(
    r"terminating connection due to administrator command|server closed the connection"
)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[Any, DatabaseUrl]]:
    """A PostgreSQL of this test's own (pgserver's handle, the URL of a migrated database)."""
    import pgserver

    pgdata = tmp_path / "pgdata"
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="delete")
    except Exception as exc:
        log = pgdata / "log"
        tail = log.read_text()[-2000:] if log.exists() else "(no server log)"
        raise RuntimeError(f"the test's own PostgreSQL did not start: {exc!r}\n{tail}") from exc
    try:
        url = create_database(DatabaseUrl.parse(server.get_uri("postgres")), "restarted")
        migrate(url)
        yield server, url
    finally:
        server.cleanup()


def restart(server: Any, url: DatabaseUrl) -> None:
    """Stop PostgreSQL (fast: every session is cut) and start it again on the same socket."""
    import pgserver

    user = server.system_user
    pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=user)
    socket_dir = conninfo_to_dict(url.conninfo())["host"]
    start = ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"]
    pgserver.pg_ctl(start, pgdata=server.pgdata, user=user)


@dataclass(frozen=True)
class RestartCase:
    """A source's sync, slowed so that PostgreSQL restarts while it is well under way."""

    name: str
    sizes: dict[str, int]
    slow: dict[str, Any]  # `/_admin/faults` while the first run goes
    progress: Callable[[psycopg.Connection], int]
    restart_at: int
    sync: Callable[[ConnectionPool, UpstreamProcess], Any]
    compare: Callable[[psycopg.Connection, UpstreamProcess, int], list[Comparison]]


def cars_truth(conn, server, seed) -> list[Comparison]:
    return [compare(conn, CARS, page_records(server.url, "/cars"), seed, "cars")]


def contacts_truth(conn, server, seed) -> list[Comparison]:
    return [compare(conn, CONTACTS, contact_records(server.url), seed, "contacts")]


def stores_truth(conn, server, seed) -> list[Comparison]:
    stores = cursor_records(server.url, "/stores")
    found = []
    for spec, kind in ((STORE_USERS, "users"), (STORE_VIDEOS, "videos")):
        records = [
            r for s in stores for r in cursor_records(server.url, f"/stores/{s['code']}/{kind}")
        ]
        found.append(compare(conn, spec, records, seed, spec.table))
    return found


def users_truth(conn, server, seed) -> list[Comparison]:
    return [compare(conn, USERS, list(upstream_users(server.url).values()), seed, "users")]


def stores_run(pool: ConnectionPool, server: UpstreamProcess) -> Any:
    _, run = stores_full_run(pool, server)
    return run


CASES = [
    RestartCase(
        "cars",
        {"cars": 1600},
        {"source": "cars", "latency_ms": [120, 250]},
        committed_page,
        5,
        cars_full_refresh,
        cars_truth,
    ),
    RestartCase(
        "contacts",
        {"contacts": 600, "workspaces": 2},
        {"source": "contacts", "latency_ms": [120, 250]},
        contacts_pages,
        3,
        contacts_full_refresh,
        contacts_truth,
    ),
    RestartCase(
        "stores",
        {"stores": 8},
        {"source": "stores", "latency_ms": [60, 150]},
        stores_done,
        2,
        stores_run,
        stores_truth,
    ),
    RestartCase(
        "users",
        {"users": 120},
        {"source": "users", "endpoint": "users.detail", "latency_ms": [250, 400]},
        users_with_detail,
        20,
        users_full_sync,
        users_truth,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_postgres_restarted_mid_run(case: RestartCase, own_server, fresh_upstream, seed, figures):
    pg, url = own_server
    server = fresh_upstream(seed, **case.sizes)
    server.admin("faults", case.slow)
    with open_pool(url, max_size=6, name="restarted") as pool:
        ended: list[BaseException | object] = []

        def first_run() -> None:
            try:
                ended.append(case.sync(pool, server))
            except BaseException as exc:  # noqa: BLE001 - what the run raised is the finding
                ended.append(exc)

        runner = threading.Thread(target=first_run)
        runner.start()
        with psycopg.connect(url.conninfo(), autocommit=True) as watcher:
            deadline = time.monotonic() + WAIT_S
            while case.progress(watcher) < case.restart_at and runner.is_alive():
                assert time.monotonic() < deadline, "the run never reached the restart point"
                time.sleep(0.02)
        assert runner.is_alive(), "the run ended before PostgreSQL could be restarted"
        restart(pg, url)
        runner.join(WAIT_S)
        assert not runner.is_alive(), "the run hung after PostgreSQL restarted"
        (first,) = ended
        while isinstance(first, BaseExceptionGroup) and len(first.exceptions) == 1:
            first = first.exceptions[0]  # a task group's one failure, as the Dagster step shows it
        if isinstance(first, BaseException):
            # one clear error: the server's (or libpq's) own word that the session was cut,
            # first thing in the message (libpq adds two lines of explanation to its own)
            assert isinstance(first, psycopg.OperationalError), repr(first)
            assert SESSION_CUT.search(str(first).splitlines()[0]), str(first)

        server.admin("faults", {**case.slow, "latency_ms": [0, 0]})
        case.sync(pool, server)  # the same pool: it must have recovered
    with psycopg.connect(url.conninfo()) as conn:
        comparisons = case.compare(conn, server, seed)
    assert_exact(figures, "PostgreSQL restarted mid-run", 1, *comparisons)
