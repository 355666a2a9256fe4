"""Two full refreshes of the same scope at once (as the UI, a schedule and the CLI can start):
one is refused with `ScopeBusy` (Dagster retries it later) or waits, never both writing and
never a hang; the table ends equal to the upstream."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine.scope_lock import ScopeBusy
from sync_pipeline.entities.cars import CARS
from sync_pipeline_tests.reliability.sources import cars_full_refresh
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.truth import compare, page_records

HANG_S = 120


def test_two_runs_of_one_scope_never_both_write(fresh_upstream, db_url, db, seed, figures):
    server = fresh_upstream(seed, cars=800)
    server.admin("faults", {"source": "cars", "latency_ms": [60, 120]})
    with (
        open_pool(db_url, max_size=6, name="first") as first,
        open_pool(db_url, max_size=6, name="second") as second,
        ThreadPoolExecutor(2) as threads,
    ):
        runs = [threads.submit(cars_full_refresh, pool, server) for pool in (first, second)]
        outcomes = []
        for run in runs:
            try:
                outcomes.append(run.result(timeout=HANG_S))
            except ScopeBusy:
                outcomes.append(None)
    finished = [o for o in outcomes if o is not None]
    assert finished, "at least one run must finish"
    if len(finished) == 2:  # the second waited: it must have found nothing left to write
        assert min(o.result.inserted for o in finished) == 0, "both runs inserted rows"
    inserted = sum(o.result.inserted for o in finished)
    truth = page_records(server.url, "/cars")
    assert inserted == len(truth), "every car is inserted once, by one run"
    assert_exact(
        figures, "two runs of one scope at once", 1, compare(db, CARS, truth, seed, "cars")
    )
