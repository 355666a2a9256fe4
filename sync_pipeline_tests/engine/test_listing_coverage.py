"""Property: a walk over a moving, page-numbered listing never proves a live key gone.

A model upstream (sorted int keys, served by offset) deletes and inserts keys between any two
page reads, during the walk and during the re-reads after it; some runs serve unsorted pages.
Whatever happens, a key live upstream for the whole walk is never in the set a full snapshot
would delist; once the listing stops moving (by the re-reads), keys deleted before the walk
all are.
"""

from __future__ import annotations

import asyncio
import random

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync_pipeline.engine.http.page import Page
from sync_pipeline.engine.http.pagination import PagedListing
from sync_pipeline.engine.listing_coverage import KeyCoverage
from sync_pipeline.engine.listing_sync import page_keys, settle_missing


class MovingListing:
    """Sorted keys served by page number; each read first applies the churn due."""

    def __init__(
        self, keys: set[int], rng: random.Random, deletes: int, inserts: int, unsorted: bool
    ) -> None:
        self.keys = sorted(keys)
        self.rng, self.deletes, self.inserts, self.unsorted = rng, deletes, inserts, unsorted
        self.deleted: set[int] = set()
        self.reads = 0

    def churn(self) -> None:
        for _ in range(self.rng.randint(0, self.deletes)):
            if self.keys:
                self.deleted.add(self.keys.pop(self.rng.randrange(len(self.keys))))
        for _ in range(self.rng.randint(0, self.inserts)):
            fresh = self.rng.randrange(0, 10_000) * 2 + 1  # odd keys are never stored ones
            if fresh not in self.keys:
                self.keys.append(fresh)
        self.keys.sort()

    def page(self, size: int, number: int) -> Page:
        self.reads += 1
        self.churn()
        chosen = self.keys[(number - 1) * size : number * size]
        if self.unsorted and self.rng.random() < 0.5:
            self.rng.shuffle(chosen)
        return Page(number, [{"id": k} for k in chosen], size, total=len(self.keys))


def walk_and_settle(
    stored: set[int], upstream: MovingListing, size: int, moving_after_walk: bool
) -> tuple[set[int], str | None]:
    """The keys a full snapshot would delist, and why some were left undecided."""
    listing = PagedListing("/items", "items", "page_size", size)
    coverage, seen, number = KeyCoverage(), set(), 1
    while True:
        page = upstream.page(size, number)
        coverage.add_page(page_keys(page, lambda record: record["id"]))
        seen.update(record["id"] for record in page.records)
        if len(page.records) < size:
            break
        number += 1
    if not moving_after_walk:
        upstream.deletes = upstream.inserts = 0
    final_missing: list[int] = []

    async def hand_over(records: list) -> list[int]:
        seen.update(record["id"] for record in records)
        final_missing[:] = sorted(stored - seen)
        return list(final_missing)

    async def fetch(asked: PagedListing, n: int) -> Page:
        return upstream.page(asked.page_size, n)

    settled = asyncio.run(
        settle_missing(fetch, listing, coverage, lambda record: record["id"], hand_over)
    )
    return set(final_missing) - set(settled.undecided), settled.reason


@settings(max_examples=300, deadline=None)
# Found by CI: inserts during a walk of pages of 1 grew the listing far past the walk, so page
# numbers read at different times no longer ordered the undecided keys; grouped by page number,
# six gone keys took more rounds than there are.
@example(
    stored=14,
    size=1,
    pre_deleted=6,
    deletes=0,
    inserts=3,
    unsorted=False,
    moving_after_walk=False,
    seed=0,
)
@given(
    stored=st.integers(0, 120),
    size=st.integers(1, 12),
    pre_deleted=st.integers(0, 15),
    deletes=st.integers(0, 3),
    inserts=st.integers(0, 3),
    unsorted=st.booleans(),
    moving_after_walk=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_a_key_live_for_the_whole_walk_is_never_delisted(
    stored, size, pre_deleted, deletes, inserts, unsorted, moving_after_walk, seed
):
    rng = random.Random(seed)
    keys = {2 * k for k in rng.sample(range(500), stored)}
    gone_before = set(rng.sample(sorted(keys), min(pre_deleted, len(keys))))
    upstream = MovingListing(keys - gone_before, rng, deletes, inserts, unsorted)
    delisted, reason = walk_and_settle(keys, upstream, size, moving_after_walk)
    live_throughout = keys - gone_before - upstream.deleted
    assert not delisted & live_throughout
    assert delisted <= gone_before | upstream.deleted
    if not unsorted and not moving_after_walk:
        assert gone_before <= delisted, reason


def test_unsorted_pages_withdraw_the_proof():
    coverage = KeyCoverage()
    coverage.add_page(page_keys(Page(1, [{"id": 4}, {"id": 2}], 2), lambda record: record["id"]))
    assert coverage.withdrawn == "page 1 was not sorted by key"
    assert coverage.split([3]) == ([], [3])


def test_undecided_keys_run_together_only_where_no_seen_key_lies_between():
    coverage = KeyCoverage()
    read = lambda record: record["id"]
    coverage.add_page(page_keys(Page(1, [{"id": 2}, {"id": 10}], 2), read))
    coverage.add_page(page_keys(Page(2, [{"id": 20}, {"id": 30}], 2), read))
    # 12 and 14 lie between pages 1 and 2; 40 and 44 after page 2, whose reading ended at 30.
    assert coverage.split([44, 12, 40, 14]) == ([], [44, 12, 40, 14])
    assert coverage.runs_of([44, 12, 40, 14]) == [[12, 14], [40, 44]]
    # A later read (another page number, the listing having shifted) saw 42: 40 and 44 part.
    coverage.add_page(page_keys(Page(7, [{"id": 42}, {"id": 43}], 2), read))
    assert coverage.runs_of([44, 12, 40, 14]) == [[12, 14], [40], [44]]
