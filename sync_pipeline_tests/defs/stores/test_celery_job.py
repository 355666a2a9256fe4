"""`stores_sync_celery_job` on two real Celery workers through the local broker (marker
`distributed`; skipped, with the reason, when no broker answers at SYNC_CELERY_BROKER_URL).

Each test gets a queue of its own, so concurrent sessions on one broker never take each
other's steps. The stores API runs under the `seed` profile's latencies with its limit lowered
to 2 requests/s: the two workers' steps together want more than that (8 requests in flight at
~1.8 s), so a limit kept per process instead of shared would show up in the upstream's stats.
"""

import os
import threading
import time
import uuid
from dataclasses import dataclass

import dagster as dg
import psycopg
import pytest

from sync_pipeline.celery_worker import WorkerProcess, broker_reachable
from sync_pipeline.db.scratch import create_database, drop_database
from sync_pipeline.db.urls import DatabaseUrl
from sync_pipeline.defs.stores.jobs import STORES_SOURCE_SYNC
from sync_pipeline.instance import persistent_instance
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.defs.stores.celery_runs import (
    assert_tables_equal_upstream,
    step_outputs,
)
from sync_pipeline_tests.defs.stores.conftest import SMALL_SIZES, upstream_records

UNREACHABLE = broker_reachable()
pytestmark = [pytest.mark.distributed, pytest.mark.skipif(bool(UNREACHABLE), reason=UNREACHABLE)]

if not UNREACHABLE:
    from sync_pipeline.defs.stores.celery_job import execute_celery_stores

STORES = 4
LIMIT_RPS = 2.0
# Above the longest step here (definitions loaded, then ~12 s of requests), so a step still
# running is never handed out twice; a dead worker's step comes back after it.
VISIBILITY_TIMEOUT_S = 25


@pytest.fixture(scope="module")
def celery_env(pg_server, template_db, tmp_path_factory):
    """One setting for the module's tests (workers start once): a seed-profile upstream of a
    few stores at 2 requests/s, a database, two `sync-pipeline worker --concurrency 2` on a
    queue of the module's own, a Dagster instance in PostgreSQL, the store list synced."""
    monkeypatch = pytest.MonkeyPatch()
    db_url = create_database(pg_server, "sync_test", template=template_db)
    upstream = UpstreamProcess(sizes={**SMALL_SIZES, "stores": STORES}).start()
    queue = f"sync-test-{uuid.uuid4().hex[:8]}"
    logs = tmp_path_factory.mktemp("celery")
    started: list[WorkerProcess] = []
    try:
        monkeypatch.setenv("SYNC_DATABASE_URL", db_url.raw)
        monkeypatch.setenv("SYNC_STORES_API_URL", upstream.url)
        monkeypatch.delenv("SYNC_STORES_API_TOKEN", raising=False)
        monkeypatch.setenv("STORES_RPS", str(LIMIT_RPS))
        monkeypatch.setenv("DB_POOL_SIZE", "4")
        monkeypatch.setenv("SYNC_CELERY_VISIBILITY_TIMEOUT", str(VISIBILITY_TIMEOUT_S))
        started = [
            WorkerProcess(logs / f"worker{i}.log", 2, queue, dict(os.environ)) for i in range(2)
        ]
        for worker in started:
            worker.launch()
        for worker in started:
            worker.wait_ready()
        with persistent_instance(db_url) as instance:
            assert STORES_SOURCE_SYNC.execute_list(instance).success
            seed_profile(upstream)
            yield CeleryEnv(upstream, instance, db_url, queue, started)
    finally:
        for worker in started:
            worker.stop()
        upstream.stop()
        drop_database(pg_server, db_url.database)
        monkeypatch.undo()


def seed_profile(upstream: UpstreamProcess) -> None:
    """The seed profile's latencies, the limit lowered to LIMIT_RPS, no store expired."""
    faults = {"source": "stores", "profile": "seed", "rps": LIMIT_RPS, "expired_stores": []}
    upstream.admin("faults", faults)


@dataclass
class CeleryEnv:
    upstream: UpstreamProcess
    instance: dg.DagsterInstance
    db_url: DatabaseUrl
    queue: str
    workers: list[WorkerProcess]


def test_steps_spread_over_two_workers_under_one_limit(celery_env):
    upstream, instance, started = celery_env.upstream, celery_env.instance, celery_env.workers
    seed_profile(upstream)
    upstream.admin("stats/reset", {})
    result = execute_celery_stores(instance, celery_env.queue)
    assert result.success
    stats = upstream.admin("stats")["limit_groups"]["stores"]
    upstream.admin("faults", {"source": "stores", "profile": "none"})
    outputs = step_outputs(instance, result.run_id)
    assert len(outputs) == 8
    assert {m["worker_pid"] for m in outputs.values()} == {w.pid for w in started}
    synced = sorted(code for m in outputs.values() for code in m["stores"])
    assert synced == sorted(s["code"] for s in upstream_records(upstream, "/stores"))
    assert stats["throttled"] == 0, stats
    assert stats["max_requests_in_1s"] <= 2 * LIMIT_RPS, stats
    assert_tables_equal_upstream(upstream, celery_env.db_url)


def test_a_worker_killed_mid_step_leaves_the_tables_equal_to_upstream(celery_env):
    """Runs after the test above (same workers): one of them is SIGKILLed mid-step."""
    upstream, instance, started = celery_env.upstream, celery_env.instance, celery_env.workers
    with psycopg.connect(celery_env.db_url.conninfo(), autocommit=True) as conn:
        conn.execute("TRUNCATE store_users, store_videos")
    seed_profile(upstream)
    victim_killed: list[WorkerProcess] = []

    def kill_a_worker_mid_step() -> None:
        """Once a group step with stores has started on a worker, SIGKILL that worker."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not victim_killed:
            running = dg.RunsFilter(
                job_name="stores_sync_celery_job", statuses=[dg.DagsterRunStatus.STARTED]
            )
            runs = instance.get_runs(filters=running, limit=1)
            if runs:
                busy = busy_workers(instance, runs[0].run_id)
                for worker in started:
                    if worker.hostname in busy:
                        time.sleep(1.0)  # well into its first requests
                        worker.kill()
                        victim_killed.append(worker)
                        return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_worker_mid_step, daemon=True)
    killer.start()
    result = execute_celery_stores(instance, celery_env.queue)
    killer.join()
    assert victim_killed, "no worker was ever seen running a step"
    assert result.success
    survivor = next(w for w in started if w not in victim_killed)
    outputs = step_outputs(instance, result.run_id)
    assert len(outputs) == 8
    assert any(m["worker_pid"] == survivor.pid for m in outputs.values())
    assert_tables_equal_upstream(upstream, celery_env.db_url)


def busy_workers(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    """Celery node names running a step of `run_id` that has stores and has not finished."""
    done = {
        r.dagster_event.step_key
        for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
    }
    busy = set()
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.event_specific_data.metadata if event.event_specific_data else {}
        worker = data.get("Celery worker")
        if worker is not None and event.step_key not in done and event.step_key in WITH_STORES:
            busy.add(worker.value)
    return busy


# Steps 0..3 each hold one of the 4 stores; 4..7 have none (every 8th store).
WITH_STORES = {f"stores_group_{i}" for i in range(STORES)}
