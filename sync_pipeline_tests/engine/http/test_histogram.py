"""Latency percentiles from the fixed-memory histogram agree with exact ones within 2%."""

import random

import pytest

from sync_pipeline.engine.http.histogram import LatencyHistogram


def exact_percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


@pytest.mark.parametrize("p", [50, 90, 95, 99, 99.9])
def test_percentiles_within_two_percent(p):
    rng = random.Random(3)
    values = [rng.lognormvariate(-3.0, 1.0) for _ in range(20_000)]
    histogram = LatencyHistogram()
    for v in values:
        histogram.record(v)
    assert histogram.percentile(p) == pytest.approx(exact_percentile(values, p), rel=0.02)
    assert histogram.count == 20_000
    assert histogram.mean_s == pytest.approx(sum(values) / len(values))


def test_empty_and_single_value():
    histogram = LatencyHistogram()
    assert histogram.percentile(99) == 0.0 and histogram.summary_ms()["avg"] == 0.0
    histogram.record(0.012)
    assert (
        histogram.percentile(50) == pytest.approx(0.012) and histogram.summary_ms()["max"] == 12.0
    )
