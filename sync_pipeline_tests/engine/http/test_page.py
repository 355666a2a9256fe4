"""Page bodies are checked whole; repeated records are dropped by key and counted."""

import pytest

from sync_pipeline.engine.http.errors import MalformedBody
from sync_pipeline.engine.http.page import (
    DuplicateFilter,
    Page,
    parse_cursor_body,
    parse_paged_body,
)


def test_paged_body_with_total_gives_the_last_page():
    page = parse_paged_body(
        {"items": [{"id": 1}], "page": 2, "page_size": 100, "total": 250}, "items", 2, 100
    )
    assert (page.number, page.total, page.last_page, page.records) == (2, 250, 3, [{"id": 1}])


def test_paged_body_with_total_pages_prefers_it():
    body = {"data": [], "page": 1, "per_page": 50, "total": 120, "total_pages": 3}
    assert parse_paged_body(body, "data", 1, 50).last_page == 3


@pytest.mark.parametrize(
    "body, fragment",
    [
        (["not", "an", "object"], "JSON object"),
        ({"items": None, "total": 3}, "list"),
        ({"items": [], "total": "3"}, "total"),
        ({"items": [], "total": -1}, "total"),
        ({"items": [], "total": True}, "total"),
        ({"items": [], "page": 7, "total": 3}, "page 7"),
    ],
)
def test_paged_body_of_the_wrong_shape_is_malformed(body, fragment):
    with pytest.raises(MalformedBody, match=fragment):
        parse_paged_body(body, "items", 1, 100)


def test_cursor_body():
    page = parse_cursor_body(
        {"data": [{"code": "s1"}], "next_cursor": "abc"}, "data", 4, "prev", 100
    )
    assert (page.number, page.cursor, page.next_cursor, page.total) == (4, "prev", "abc", None)
    assert (
        parse_cursor_body({"data": [], "next_cursor": None}, "data", 1, None, 100).next_cursor
        is None
    )
    with pytest.raises(MalformedBody, match="next_cursor"):
        parse_cursor_body({"data": []}, "data", 1, None, 100)
    with pytest.raises(MalformedBody, match="next_cursor"):
        parse_cursor_body({"data": [], "next_cursor": 5}, "data", 1, None, 100)


def test_a_repeated_record_keeps_its_newest_copy():
    seen = DuplicateFilter(lambda record: record["id"])
    first = seen.keep_new(Page(1, [{"id": 1}, {"id": 2}, {"id": 3}], 3, fetched_at=2.0))
    later = seen.keep_new(
        Page(2, [{"id": 3, "v": "newer"}, {"id": 4}, {"id": 5}], 3, fetched_at=3.0)
    )
    earlier = seen.keep_new(Page(3, [{"id": 5, "v": "older"}, {"id": 6}], 3, fetched_at=2.5))
    assert [r["id"] for r in first.records] == [1, 2, 3] and first.duplicates == 0
    assert later.records[0] == {"id": 3, "v": "newer"} and (later.duplicates, later.replaced) == (
        0,
        1,
    )
    assert [r["id"] for r in earlier.records] == [6] and (earlier.duplicates, earlier.replaced) == (
        1,
        0,
    )
    assert (first.served, later.served, earlier.served) == (3, 3, 2)


def test_a_record_without_a_usable_key_is_kept_for_the_loader_to_quarantine():
    seen = DuplicateFilter(lambda record: record["id"])
    page = seen.keep_new(Page(1, [{"id": 1}, {"no_id": True}, {"id": [1, 2]}, "not a record"], 4))
    assert len(page.records) == 4 and page.duplicates == 0
