"""Contract tests of `GET /users` and `GET /users/{id}` (upstream-api.md section 1)."""

from __future__ import annotations

import httpx

from sync_pipeline.upstream.clock import iso_from_ms, ms_from_iso
from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES
from sync_pipeline_tests.upstream.conftest import assert_error, assert_fields, walk_numbered

SUMMARY_FIELDS = {
    "id": int,
    "email": str,
    "name": str,
    "status": str,
    "plan": str,
    "team_id": (int, type(None)),
    "updated_at": "timestamp",
    "last_seen_at": "timestamp",
}
DETAIL_FIELDS = {
    **SUMMARY_FIELDS,
    "profile": dict,
    "settings": dict,
    "roles": list,
    "addresses": list,
    "fetched_at": "timestamp",
}


def test_list_envelope_and_summary_fields(api: httpx.Client) -> None:
    body = api.get("/users", params={"page": 1, "per_page": 7}).json()
    assert_fields(
        body, {"data": list, "page": int, "per_page": int, "total": int, "total_pages": int}
    )
    total = TEST_UPSTREAM_SIZES["users"]
    assert (body["page"], body["per_page"], body["total"], body["total_pages"]) == (
        1,
        7,
        total,
        -(-total // 7),
    )
    for user in body["data"]:
        assert_fields(user, SUMMARY_FIELDS)
        assert user["status"] in ("active", "suspended", "deleted") and "@" in user["email"]


def test_walk_is_ordered_by_updated_at_then_id_and_complete(api: httpx.Client) -> None:
    users = walk_numbered(api, "/users", "data", "per_page", 500)
    order = [(u["updated_at"], u["id"]) for u in users]
    assert order == sorted(order)
    assert len({u["id"] for u in users}) == len(users) == TEST_UPSTREAM_SIZES["users"]


def test_window_is_half_open(api: httpx.Client) -> None:
    user = api.get("/users", params={"page": 50, "per_page": 1}).json()["data"][0]
    stamp = ms_from_iso(user["updated_at"])

    def ids(since: int, until: int) -> set[int]:
        window = {"updated_since": iso_from_ms(since), "updated_until": iso_from_ms(until)}
        return {u["id"] for u in walk_numbered(api, "/users", "data", "per_page", 500, window)}

    assert user["id"] in ids(stamp, stamp + 1)
    assert user["id"] not in ids(stamp - 60_000, stamp)
    first_half, second_half = ids(stamp - 86_400_000, stamp), ids(stamp, stamp + 86_400_000)
    assert not first_half & second_half
    assert first_half | second_half == ids(stamp - 86_400_000, stamp + 86_400_000)


def test_detail_has_every_summary_field_and_agrees_with_the_list(api: httpx.Client) -> None:
    summaries = api.get("/users", params={"page": 3, "per_page": 5}).json()["data"]
    for summary in summaries:
        detail = api.get(f"/users/{summary['id']}").json()
        assert_fields(detail, DETAIL_FIELDS)
        assert {k: detail[k] for k in SUMMARY_FIELDS} == summary
        assert "member" in detail["roles"] and all(isinstance(a, dict) for a in detail["addresses"])


def test_unknown_user_is_user_not_found(api: httpx.Client) -> None:
    assert_error(api.get("/users/999999999"), 404, "user_not_found")
    assert_error(api.get("/users/not-a-number"), 404, "user_not_found")


def test_per_page_over_500_is_rejected(api: httpx.Client) -> None:
    assert_error(api.get("/users", params={"per_page": 501}), 400, "invalid_parameter")
