"""Contract tests of the stores APIs (upstream-api.md section 3)."""

from __future__ import annotations

import httpx

from sync_pipeline_tests.conftest import TEST_UPSTREAM_SIZES
from sync_pipeline_tests.upstream.conftest import assert_error, assert_fields, walk_cursor

STORE_FIELDS = {
    "code": str,
    "name": str,
    "region": str,
    "currency": str,
    "status": str,
    "updated_at": "timestamp",
}
STORE_USER_FIELDS = {
    "id": int,
    "store_code": str,
    "handle": str,
    "display_name": str,
    "role": str,
    "followers": int,
    "joined_at": "timestamp",
    "updated_at": "timestamp",
}
VIDEO_FIELDS = {
    "id": int,
    "store_code": str,
    "title": str,
    "duration_s": int,
    "views": int,
    "likes": int,
    "comments": int,
    "shares": int,
    "published_at": "timestamp",
    "updated_at": "timestamp",
}


def test_store_walk_by_cursor_yields_every_store_once_by_code(api: httpx.Client) -> None:
    stores = walk_cursor(api, "/stores", limit=5)
    codes = [s["code"] for s in stores]
    assert len(codes) == len(set(codes)) == TEST_UPSTREAM_SIZES["stores"] and codes == sorted(codes)
    for store in stores:
        assert_fields(store, STORE_FIELDS)


def test_each_store_lists_its_users_and_videos_once_by_id(api: httpx.Client) -> None:
    for store in walk_cursor(api, "/stores", limit=100):
        for kind, fields in (("users", STORE_USER_FIELDS), ("videos", VIDEO_FIELDS)):
            records = walk_cursor(api, f"/stores/{store['code']}/{kind}", limit=100)
            ids = [r["id"] for r in records]
            assert ids == sorted(set(ids)) and len(ids) > 100
            for record in records:
                assert_fields(record, fields)
                assert record["store_code"] == store["code"]


def test_last_page_has_no_next_cursor_and_limit_is_capped(api: httpx.Client) -> None:
    body = api.get("/stores", params={"limit": 100}).json()
    assert body["next_cursor"] is None and len(body["data"]) == TEST_UPSTREAM_SIZES["stores"]
    assert_error(api.get("/stores", params={"limit": 101}), 400, "invalid_parameter")
    assert_error(api.get("/stores", params={"cursor": "garbage!"}), 400, "invalid_cursor")


def test_unknown_store_is_not_found(api: httpx.Client) -> None:
    assert_error(api.get("/stores/NOPE-0000/users"), 404, "store_not_found")
