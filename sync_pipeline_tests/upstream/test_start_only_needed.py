"""`sync SOURCE` starts the reference upstream for that source's API alone, with its data only."""

from contextlib import ExitStack

from sync_pipeline.settings import source_env_names
from sync_pipeline.upstream.process import start_for_unset_sources
from sync_pipeline.upstream.sizes import DataSizes, sizes_serving_only


def test_sizes_serving_only_keep_the_named_apis_defaults_and_shrink_the_rest():
    only_cars = DataSizes.from_mapping(sizes_serving_only(["cars"]))
    assert only_cars.cars == DataSizes().cars
    assert (only_cars.users, only_cars.stores, only_cars.contacts) == (0, 0, 0)
    assert (only_cars.leaderboard_entries, only_cars.workspaces) == (1, 1)
    contacts = DataSizes.from_mapping(sizes_serving_only(["contacts", "pvp"]))
    assert (contacts.contacts, contacts.workspaces) == (
        DataSizes().contacts,
        DataSizes().workspaces,
    )
    assert contacts.leaderboard_entries == DataSizes().leaderboard_entries and contacts.cars == 0


def test_only_the_named_unset_upstream_is_started_and_pointed_at():
    env: dict[str, str] = {}
    with ExitStack() as stack:
        upstream = start_for_unset_sources(stack, env, sizes={"cars": 20}, only=["cars"])
        assert upstream is not None
        assert env == {source_env_names("cars")[0]: upstream.url}
        counts = upstream.admin("info")["counts"]
        assert counts["cars"] == 20 and counts["users"] == 0 and counts["contacts"] == 0
    already_set = {source_env_names("cars")[0]: "http://127.0.0.1:9"}
    with ExitStack() as stack:
        assert start_for_unset_sources(stack, already_set, only=["cars"]) is None
