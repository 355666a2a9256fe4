"""A cars run resumed with another page size continues at the exact record it stopped after.

The checkpoint of the interrupted run says "page P of 50 records"; the retry asks in pages of
70. Read as a bare page number, page P + 1 of 70 would skip records (P x 20 of them) or, with a
smaller size, repeat them. The checkpoint records what its page counts in, so the retry resumes
at record P x 50 exactly: nothing skipped, nothing fetched twice, and it says so.
"""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine.http.client import ApiClient
from sync_pipeline.engine.http.config import ClientConfig
from sync_pipeline.pipelines.cars import CarsScope, CarsSyncSettings, sync_cars
from sync_pipeline_tests.defs.cars.upstream_compare import stored_cars, upstream_cars
from sync_pipeline_tests.pipelines import resume

CARS = 700
SIZES = {
    "cars": CARS,
    "users": 10,
    "stores": 1,
    "leaderboard_entries": 10,
    "contacts": 10,
    "workspaces": 1,
}
FIRST, RETRY = 50, 70


@pytest.fixture
def small_cars(upstream_factory):
    return upstream_factory(sizes=SIZES)


def committed_page(db_url) -> int:
    return resume.committed_page(db_url.conninfo(), "cars", "full")


def run_cars(db_url, url: str, page_size: int, stop_after_page: int | None = None):
    """A full refresh in pages of `page_size`; cancelled once `stop_after_page` pages committed."""
    settings = CarsSyncSettings(page_size=page_size, batch_size=page_size, parallel_batches=1)

    async def run():
        async with ApiClient(
            ClientConfig(base_url=url, rps=8.0 if stop_after_page else 200.0)
        ) as client:
            cars = sync_cars(pool, client, CarsScope.full_refresh(), uuid.uuid4().hex, settings)
            if not stop_after_page:
                return await cars
            return await resume.cancel_after_pages(
                cars, db_url.conninfo(), "cars", "full", stop_after_page
            )

    with open_pool(db_url, max_size=4, name="resume_test") as pool:
        return asyncio.run(run())


def test_a_retry_with_another_page_size_resumes_at_the_exact_record(db_url, small_cars):
    assert run_cars(db_url, small_cars.url, FIRST, stop_after_page=3) is None
    page = committed_page(db_url)
    assert 3 <= page < CARS // FIRST, "the first run stopped part-way"
    done = page * FIRST

    outcome = run_cars(db_url, small_cars.url, RETRY)
    assert outcome.walk.skipped_records == done
    assert outcome.walk.start_page == done // RETRY + 1
    skip = done % RETRY
    expected_note = (
        f"checkpoint at page {page} of {FIRST} records translated to page {done // RETRY} "
        f"of {RETRY}"
    )
    assert outcome.resume_note.startswith(expected_note)
    assert (f"skipping the first {skip} records" in outcome.resume_note) == bool(skip)
    assert (outcome.result.inserted, outcome.result.unchanged) == (CARS - done, 0), (
        "nothing skipped or repeated"
    )
    assert outcome.walk.records == CARS - done
    assert stored_cars(db_url.conninfo()) == upstream_cars(small_cars.url)
    with psycopg.connect(db_url.conninfo()) as conn:
        layout, status = conn.execute(
            "SELECT layout, status FROM sync_checkpoints WHERE partition = 'full'"
        ).fetchone()
    assert (layout["page_size"], status) == (RETRY, "completed")
