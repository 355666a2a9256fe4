"""`/_admin/reset` and `/_admin/mutate` on a server of this module's own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES
from sync_pipeline_tests.upstream.conftest import assert_error, restore, walk_cursor, walk_numbered


@pytest.fixture
def server(own_upstream: UpstreamProcess) -> Iterator[UpstreamProcess]:
    restore(own_upstream)
    yield own_upstream


def _snapshot(client: httpx.Client) -> list[bytes]:
    workspace = client.get("/workspaces").json()["data"][0]["id"]
    return [
        client.get(path, params=params, headers={"Accept-Encoding": "identity"}).content
        for path, params in (
            ("/cars", {"page": 4, "page_size": 200}),
            ("/users", {"page": 2, "per_page": 100}),
            ("/stores", {"limit": 100}),
            ("/pvp/tw/leaderboards/rbg", {}),
            ("/contacts", {"workspace_id": workspace, "limit": 300}),
        )
    ]


def test_same_seed_gives_byte_identical_records(server: UpstreamProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        before = _snapshot(client)
        server.admin("reset", {"seed": 8, "sizes": TEST_UPSTREAM_SIZES})
        other_seed = _snapshot(client)
        server.admin("reset", {"seed": 7, "sizes": TEST_UPSTREAM_SIZES})
        again = _snapshot(client)
    assert again == before
    assert all(a != b for a, b in zip(before, other_seed))


def test_reset_applies_sizes(server: UpstreamProcess) -> None:
    answer = server.admin(
        "reset", {"seed": 7, "sizes": {**TEST_UPSTREAM_SIZES, "cars": 321, "workspaces": 2}}
    )
    assert answer["counts"]["cars"] == 321 and answer["counts"]["workspaces"] == 2
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/cars").json()["total"] == 321
        assert_error(
            client.post("/_admin/reset", json={"seed": 1, "sizes": {"planes": 3}}),
            400,
            "invalid_request",
        )


def _ids_since(
    client: httpx.Client, path: str, items_key: str, size_key: str, stamp: str
) -> set[Any]:
    return {
        r["id"]
        for r in walk_numbered(client, path, items_key, size_key, 500, {"updated_since": stamp})
    }


@pytest.mark.parametrize(
    "source,path,items_key,size_key",
    [("cars", "/cars", "items", "page_size"), ("users", "/users", "data", "per_page")],
)
def test_mutate_changes_exactly_the_asked_share_and_windows_see_it(
    server: UpstreamProcess, source: str, path: str, items_key: str, size_key: str
) -> None:
    total = TEST_UPSTREAM_SIZES[source]
    with httpx.Client(base_url=server.url) as client:
        before = {r["id"]: r for r in walk_numbered(client, path, items_key, size_key, 500)}
        shares = {"update": 0.01, "touch": 0.02, "delete": 0.005, "insert": 7}
        changed = server.admin("mutate", {"source": source, **shares})
        after = {r["id"]: r for r in walk_numbered(client, path, items_key, size_key, 500)}
        recent = _ids_since(client, path, items_key, size_key, changed["updated_at"])
    updated, touched, deleted, inserted = (
        set(changed[k]) for k in ("updated", "touched", "deleted", "inserted")
    )
    assert (len(updated), len(touched), len(deleted), len(inserted)) == (
        round(total * 0.01),
        round(total * 0.02),
        round(total * 0.005),
        7,
    )
    assert (
        not (updated & touched)
        and not ((updated | touched) & deleted)
        and not (inserted & set(before))
    )
    assert set(after) == set(before) - deleted | inserted
    assert recent == updated | touched | inserted
    volatile = {"updated_at", "scraped_at", "views", "last_seen_at"}
    for record_id in updated | touched:
        assert after[record_id]["updated_at"] > before[record_id]["updated_at"]
        business_changed = {
            k for k in before[record_id] if before[record_id][k] != after[record_id][k]
        } - volatile
        assert bool(business_changed) == (record_id in updated), (record_id, business_changed)
    untouched = set(before) - updated - touched - deleted
    assert all(after[i] == before[i] for i in untouched)


def test_every_kind_can_be_mutated_and_reports_its_ids(server: UpstreamProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        for source in ("stores", "store_users", "store_videos", "contacts", "pvp"):
            shares = {"update": 0.1, "touch": 0.1, "delete": 0.05, "insert": 3}
            changed = server.admin("mutate", {"source": source, **shares})
            assert len(changed["inserted"]) == 3 and changed["updated"] and changed["deleted"], (
                source
            )
        workspaces = [w["id"] for w in client.get("/workspaces").json()["data"]]
        contacts = {
            c["id"]
            for w in workspaces
            for c in walk_cursor(client, "/contacts", 500, {"workspace_id": w})
        }
        stores = {s["code"] for s in walk_cursor(client, "/stores", 100)}
        board_ids = {
            e["character"]["id"]
            for r in ("us", "eu", "kr", "tw")
            for b in ("2v2", "3v3", "rbg", "shuffle")
            for e in client.get(f"/pvp/{r}/leaderboards/{b}").json()["entries"]
        }
    assert set(changed["inserted"]) <= board_ids and not set(changed["deleted"]) & board_ids
    for count, size in (
        (len(contacts), TEST_UPSTREAM_SIZES["contacts"]),
        (len(stores), TEST_UPSTREAM_SIZES["stores"]),
    ):
        assert count == size + 3 - round(size * 0.05)


def test_deleted_user_detail_is_not_found(server: UpstreamProcess) -> None:
    gone = server.admin("mutate", {"source": "users", "delete": 0.01})["deleted"]
    with httpx.Client(base_url=server.url) as client:
        for user_id in gone[:5]:
            assert_error(client.get(f"/users/{user_id}"), 404, "user_not_found")


def test_bad_mutations_are_rejected(server: UpstreamProcess) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert_error(
            client.post("/_admin/mutate", json={"source": "cars", "update": 1.5}),
            400,
            "invalid_request",
        )
        assert_error(
            client.post("/_admin/mutate", json={"source": "cars", "update": 0.6, "delete": 0.6}),
            400,
            "invalid_request",
        )
        assert_error(
            client.post("/_admin/mutate", json={"source": "planes"}), 400, "invalid_request"
        )
