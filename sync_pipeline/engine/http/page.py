"""One page of a list endpoint, how its body is checked, and how repeated records are dropped."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

from sync_pipeline.engine.http.errors import MalformedBody


@dataclass(frozen=True)
class Page:
    """The records of one page, whole, in the upstream's order, repeats already dropped.

    `number` counts from 1 (for cursor walks: the page's position in this walk). `page_size`
    is the size asked for, so that a full page can be told from the last, short one.
    `total`/`last_page` are known for page styles, `cursor`/`next_cursor` for cursor walks.
    Of the records whose key an earlier page of the walk had, `duplicates` were dropped (older
    copies) and `replaced` kept in `records` (newer copies, by `fetched_at`, monotonic seconds).
    """

    number: int
    records: list[Any]
    page_size: int
    total: int | None = None
    last_page: int | None = None
    cursor: str | None = None
    next_cursor: str | None = None
    duplicates: int = 0
    replaced: int = 0
    fetched_at: float = 0.0

    @property
    def served(self) -> int:
        """How many records the response held, repeats included."""
        return len(self.records) + self.duplicates


def parse_paged_body(body: Any, records_field: str, number: int, page_size: int) -> Page:
    """A `Page` from `{records_field: [...], "page": N, "total": T, "total_pages"?: P}`.

    Raises `MalformedBody` when the records are not a list, a count is not a whole number, or
    the body is for another page. Single records are not checked here: a record of the wrong
    shape is the loader's to quarantine.
    """
    records = _records(body, records_field)
    if body.get("page", number) != number:
        raise MalformedBody(f"asked for page {number}, got page {body.get('page')!r}")
    total, total_pages = _count(body, "total"), _count(body, "total_pages")
    last_page = (
        total_pages
        if total_pages is not None
        else (math.ceil(total / page_size) if total is not None else None)
    )
    return Page(number, records, page_size, total=total, last_page=last_page)


def parse_cursor_body(
    body: Any, records_field: str, number: int, cursor: str | None, page_size: int
) -> Page:
    """A `Page` from `{records_field: [...], "next_cursor": C | null}`; raises `MalformedBody`."""
    records = _records(body, records_field)
    if "next_cursor" not in body:
        raise MalformedBody("the body has no next_cursor")
    next_cursor = body["next_cursor"]
    if next_cursor is not None and not isinstance(next_cursor, str):
        raise MalformedBody(
            f"next_cursor must be a string or null, got {type(next_cursor).__name__}"
        )
    return Page(number, records, page_size, cursor=cursor, next_cursor=next_cursor or None)


def _records(body: Any, records_field: str) -> list[Any]:
    if not isinstance(body, dict):
        raise MalformedBody(f"expected a JSON object, got {type(body).__name__}")
    records = body.get(records_field)
    if not isinstance(records, list):
        raise MalformedBody(f"expected a list in {records_field!r}, got {type(records).__name__}")
    return records


def _count(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedBody(f"{name} must be a whole number >= 0, got {value!r}")
    return value


class DuplicateFilter:
    """Remembers the keys of one walk and drops the older copies of records seen twice.

    A record whose key an earlier page had is kept when its page was fetched later than the
    page of the copy kept so far (it is the newer copy, and the loader keeps the last copy it
    is given), else dropped. Holds one key per record of the walk (about 70 bytes each for
    int ids: 14 MB for 200k). A record whose key cannot be computed (missing or unhashable
    field) is kept as is: it is the loader's to quarantine, not the paginator's to lose.
    """

    def __init__(self, key: Callable[[Any], Hashable]) -> None:
        self._key = key
        self._seen: dict[Hashable, float] = {}

    def keep_new(self, page: Page) -> Page:
        """`page` without older copies of records already seen; counts in
        `duplicates`/`replaced`."""
        kept: list[Any] = []
        repeats = replaced = 0
        fetched_at = page.fetched_at
        seen = self._seen
        for record in page.records:
            try:
                key = self._key(record)
                earlier = seen.get(key)
                if earlier is not None:
                    repeats += 1
                    if earlier > fetched_at:
                        continue
                    replaced += 1
                seen[key] = fetched_at
            except (KeyError, TypeError, IndexError):
                pass
            kept.append(record)
        if not repeats:
            return page
        return replace(
            page,
            records=kept,
            duplicates=page.duplicates + repeats - replaced,
            replaced=page.replaced + replaced,
        )
