"""The shipped defaults pass their own checks: the largest page the contract allows, and a
throughput target derived from the configured rate limit."""

from sync_pipeline import registry
from sync_pipeline.defs.cars.config import CarsSyncConfig
from sync_pipeline.pipelines.cars import CarsSyncSettings

CONTRACT_MAX_PAGE_SIZE = 1000  # docs/upstream-api.md, GET /cars: page_size 1..1000


def test_the_default_page_is_the_largest_the_contract_allows():
    assert CarsSyncSettings().page_size == CONTRACT_MAX_PAGE_SIZE


def test_the_default_target_leaves_room_under_the_rate_limit():
    rps = registry.source("cars").api_rps
    page_size = CarsSyncSettings().page_size
    pages_per_s, rows_per_s = CarsSyncConfig().throughput_targets(rps, page_size)
    assert pages_per_s == rps / 2
    assert rows_per_s == pages_per_s * page_size
    assert rows_per_s < rps * page_size, "the most the limit allows must beat the target"


def test_the_target_follows_the_configured_limit_and_explicit_targets_win():
    assert CarsSyncConfig().throughput_targets(4.0, 100) == (2.0, 200.0)
    explicit = CarsSyncConfig(min_pages_per_s=7.0, min_rows_per_s=123.0)
    assert explicit.throughput_targets(4.0, 100) == (7.0, 123.0)
