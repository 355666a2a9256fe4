"""PostgreSQL restarted in the middle of a cars full refresh, on a server of the test's own:
the run ends with one clear error (or retries through it), the next run on the same pool, in
the same process, converges to exact equality with the upstream."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from sync_pipeline.db.migrations import migrate
from sync_pipeline.db.pool import open_pool
from sync_pipeline.db.scratch import create_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.entities.cars import CARS
from sync_pipeline_tests.reliability.sources import cars_full_refresh
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.test_kill import committed_page
from sync_pipeline_tests.reliability.truth import compare, page_records

RESTART_AT_PAGE = 5
WAIT_S = 90


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


def test_postgres_restarted_mid_run(own_server, fresh_upstream, seed, figures):
    pg, url = own_server
    server = fresh_upstream(seed, cars=1600)
    server.admin("faults", {"source": "cars", "latency_ms": [120, 250]})
    with open_pool(url, max_size=6, name="restarted") as pool:
        ended: list[BaseException | object] = []

        def first_run() -> None:
            try:
                ended.append(cars_full_refresh(pool, server))
            except BaseException as exc:  # noqa: BLE001 - what the run raised is the finding
                ended.append(exc)

        runner = threading.Thread(target=first_run)
        runner.start()
        with psycopg.connect(url.conninfo(), autocommit=True) as watcher:
            deadline = time.monotonic() + WAIT_S
            while committed_page(watcher) < RESTART_AT_PAGE and runner.is_alive():
                assert time.monotonic() < deadline, "the run never reached the restart point"
                time.sleep(0.02)
        assert runner.is_alive(), "the run ended before PostgreSQL could be restarted"
        restart(pg, url)
        runner.join(WAIT_S)
        assert not runner.is_alive(), "the run hung after PostgreSQL restarted"
        (first,) = ended
        if isinstance(first, BaseException):
            # one clear error: the server's own word that it cut the session, on one line
            assert isinstance(first, psycopg.OperationalError), repr(first)
            assert len(str(first).strip().splitlines()) == 1, str(first)

        server.admin("faults", {"source": "cars", "latency_ms": [0, 0]})
        cars_full_refresh(pool, server)  # the same pool: it must have recovered
    with psycopg.connect(url.conninfo()) as conn:
        truth = page_records(server.url, "/cars")
        comparison = compare(conn, CARS, truth, seed, "cars")
    assert_exact(figures, "PostgreSQL restarted mid-run", 1, comparison)
