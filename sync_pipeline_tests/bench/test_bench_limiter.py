"""`bench limiter` counts grants in a sliding second exactly as the upstream counts arrivals."""

import importlib

from sync_pipeline.bench import BENCHMARKS
from sync_pipeline.bench.limiter import most_in_any_window
from sync_pipeline.upstream.stats import PeakRate


def test_the_window_is_the_upstream_s_half_open_second():
    paced = [i * 0.0503 for i in range(100)]  # 19.9/s, as the client paces a 20/s limit
    assert most_in_any_window(paced) == 20
    assert most_in_any_window([0.0, 1.0]) == 1  # (t - 1, t]: a request exactly 1 s earlier is out
    assert most_in_any_window([0.0, 0.999, 0.5]) == 3
    bunched = paced[:10] + [0.5 + i * 0.001 for i in range(5)]
    peak = PeakRate()
    for stamp in sorted(bunched):
        peak.add(stamp)
    assert most_in_any_window(bunched) == peak.peak == 15


def test_the_benchmark_is_registered():
    module = importlib.import_module(BENCHMARKS["limiter"])
    assert callable(module.run) and callable(module.fetch_with_grants)
