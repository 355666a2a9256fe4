"""What the commands print reads as English: counts, the upstream's fault profile."""

from contextlib import ExitStack

from sync_pipeline.demo import counted
from sync_pipeline.upstream.process import start_for_unset_sources

SMALL = {
    "cars": 10,
    "users": 10,
    "stores": 1,
    "leaderboard_entries": 10,
    "contacts": 10,
    "workspaces": 1,
}


def test_counts_agree_with_their_noun():
    assert counted(1, "sensor") == "1 sensor"
    assert [counted(n, "job") for n in (0, 2)] == ["0 jobs", "2 jobs"]


def test_the_started_upstream_names_its_fault_profile(capsys):
    env: dict[str, str] = {}
    with ExitStack() as stack:
        upstream = start_for_unset_sources(stack, env, profile="none", sizes=SMALL)
        assert upstream is not None and env["SYNC_CARS_API_URL"] == upstream.url
    printed = capsys.readouterr().out
    assert f"reference upstream at {upstream.url} (fault profile none) for: cars" in printed
