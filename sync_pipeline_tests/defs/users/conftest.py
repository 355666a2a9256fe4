"""Fixtures for the users system: one reference upstream for the module (its data and faults
reset before each test), a database of the test's own, both wired through the environment
exactly as a user would configure them, and helpers that drive the sensor and the jobs through
Dagster on a real instance."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import httpx
import psycopg
import pytest

from sync_pipeline.definitions import defs
from sync_pipeline.defs.users.sensors import users_change_detector
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.run_results import check_results, materialization_metadata  # noqa: F401 (re-exported)

USER_COUNT = 300
SIZES = {
    "cars": 10,
    "users": USER_COUNT,
    "stores": 1,
    "leaderboard_entries": 10,
    "contacts": 10,
    "workspaces": 1,
}
TODAY = datetime.now(UTC).strftime("%Y-%m-%d")
BUSINESS_FIELDS = (
    "email",
    "name",
    "status",
    "plan",
    "team_id",
    "profile",
    "settings",
    "roles",
    "addresses",
)


@pytest.fixture(scope="module")
def users_upstream_server() -> Iterator[UpstreamProcess]:
    with UpstreamProcess(profile="none", seed=1, sizes=SIZES) as server:
        yield server


@pytest.fixture
def users_upstream(users_upstream_server: UpstreamProcess) -> UpstreamProcess:
    """The module's upstream with fresh seed-1 data, no faults, and zeroed stats."""
    users_upstream_server.admin("reset", {"seed": 1, "sizes": SIZES})
    users_upstream_server.admin("faults", {"source": "*", "profile": "none"})
    users_upstream_server.admin("stats/reset", {})
    return users_upstream_server


@pytest.fixture
def users_env(monkeypatch, db_url, users_upstream) -> UpstreamProcess:
    monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
    monkeypatch.setenv("SYNC_USERS_API_URL", users_upstream.url)
    monkeypatch.delenv("SYNC_USERS_API_TOKEN", raising=False)
    for name, value in {
        "USERS_LIST_RPS": "500",
        "USERS_DETAIL_RPS": "500",
        "USERS_BATCH": "500",
        "USERS_PAGE_SIZE": "100",
        "USERS_DETECTOR_MAX_PAGES": "40",
    }.items():
        monkeypatch.setenv(name, value)
    return users_upstream


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    """Evaluate the detector once, with the code location's own resources (torn down after)."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    ) as context:
        return users_change_detector(context)


def requested_ids(result: dg.SensorResult) -> list[int]:
    return [user_id for request in result.run_requests for user_id in request_ids(request)]


def request_ids(request: dg.RunRequest) -> list[int]:
    return request.run_config["ops"]["users_sync"]["config"]["ids"]


def run_worker(
    instance: dg.DagsterInstance, request: dg.RunRequest, detail_attempts: int | None = None
) -> dg.ExecuteInProcessResult:
    """Launch the worker run a sensor asked for, the way the run queue would; `detail_attempts`
    sets the detail client's `max_attempts` through resource config."""
    job = defs.resolve_job_def("users_worker_job")
    run_config = dict(request.run_config)
    if detail_attempts is not None:
        run_config["resources"] = {
            "users_detail_api": {
                "config": {"source": "users", "endpoint": "detail", "max_attempts": detail_attempts}
            }
        }
    return job.execute_in_process(
        instance=instance,
        run_config=run_config,
        tags=request.tags,
        partition_key=request.partition_key,
        raise_on_error=False,
    )


def run_worker_for(
    instance: dg.DagsterInstance, ids: list[int], **config: Any
) -> dg.ExecuteInProcessResult:
    """A worker run launched by hand (from the launchpad) for `ids`."""
    request = dg.RunRequest(
        partition_key=TODAY,
        tags={"sync_pipeline/upstream": "users"},
        run_config={"ops": {"users_sync": {"config": {"ids": ids, **config}}}},
    )
    return run_worker(instance, request)


def reconcile(
    instance: dg.DagsterInstance,
    *,
    full_refresh: bool = False,
    partition: str = TODAY,
    **config: Any,
) -> dg.ExecuteInProcessResult:
    """A reconcile run; an empty table is filled with details (`bootstrap_empty` False) unless
    the test asks for the bootstrap."""
    job = defs.resolve_job_def("users_sync_job")
    config.setdefault("bootstrap_empty", False)
    run_config = {"ops": {"users_sync": {"config": {**config, "full_refresh": full_refresh}}}}
    return job.execute_in_process(
        instance=instance, run_config=run_config, partition_key=partition, raise_on_error=False
    )


def upstream_users(base_url: str) -> dict[int, dict]:
    """Every user's detail straight from the upstream (summaries walked, then each detail)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        ids, page = [], 1
        while True:
            body = client.get("/users", params={"page": page, "per_page": 500}).json()
            ids += [user["id"] for user in body["data"]]
            if page >= body["total_pages"]:
                break
            page += 1
        return {user_id: client.get(f"/users/{user_id}").json() for user_id in ids}


def business(users: dict[int, dict]) -> dict[int, tuple]:
    return {
        user_id: tuple(user.get(name) for name in BUSINESS_FIELDS)
        for user_id, user in users.items()
    }


def stored_users(db_url, live_only: bool = True) -> dict[int, dict]:
    where = "WHERE deleted_at IS NULL" if live_only else ""
    with (
        psycopg.connect(db_url.conninfo()) as conn,
        conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
    ):
        cur.execute(f"SELECT * FROM users {where}")
        return {row["id"]: row for row in cur.fetchall()}


def pending(db_url) -> dict[int, dict]:
    with (
        psycopg.connect(db_url.conninfo()) as conn,
        conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
    ):
        cur.execute("SELECT * FROM users_pending_changes")
        return {row["id"]: row for row in cur.fetchall()}


def xmins(db_url, ids) -> dict[int, str]:
    with psycopg.connect(db_url.conninfo()) as conn:
        return dict(
            conn.execute(
                "SELECT id, xmin::text FROM users WHERE id = ANY(%s)", (list(ids),)
            ).fetchall()
        )


def run_lag_check(
    instance: dg.DagsterInstance, max_lag_s: float | None = None
) -> dg.AssetCheckEvaluation:
    """The lag check's own job, as its schedule runs it."""
    config = (
        {"ops": {"users_lag": {"config": {"max_lag_s": max_lag_s}}}}
        if max_lag_s is not None
        else None
    )
    result = defs.resolve_job_def("users_lag_check_job").execute_in_process(
        instance=instance, run_config=config
    )
    (evaluation,) = check_results(result).values()
    return evaluation
