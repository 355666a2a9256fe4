"""Fixtures of the reliability suite: seeds (one by default, more under `--soak`) and an
upstream of the case's own. The marker, `--soak` and the figures live in `plugin.py`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sync_pipeline.upstream.process import UpstreamProcess

DEFAULT_SEEDS = (101,)
SOAK_SEEDS = (101, 202, 303, 404)
TINY = {
    "cars": 10,
    "users": 10,
    "stores": 1,
    "leaderboard_entries": 10,
    "contacts": 10,
    "workspaces": 1,
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed" in metafunc.fixturenames:
        soak = metafunc.config.getoption("--soak")
        metafunc.parametrize("seed", SOAK_SEEDS if soak else DEFAULT_SEEDS)


@pytest.fixture(scope="session")
def reliability_upstream() -> Iterator[UpstreamProcess]:
    """One reference upstream for the suite; each case resets it (`upstream_of`)."""
    with UpstreamProcess(profile="none", seed=DEFAULT_SEEDS[0], sizes=TINY) as server:
        yield server


@pytest.fixture
def fresh_upstream(reliability_upstream, soak) -> Callable[..., UpstreamProcess]:
    """`fresh_upstream(seed, cars=1000, ...)`: the suite's upstream with new data of that seed
    and those sizes (four times larger under `--soak`; others tiny), no faults, stats zeroed."""

    def reset(seed: int, **sizes: int) -> UpstreamProcess:
        scale = 4 if soak else 1
        wanted = {**TINY, **{k: v * scale for k, v in sizes.items()}}
        reliability_upstream.admin("reset", {"seed": seed, "sizes": wanted})
        reliability_upstream.admin("faults", {"source": "*", "profile": "none"})
        reliability_upstream.admin("stats/reset", {})
        return reliability_upstream

    return reset
