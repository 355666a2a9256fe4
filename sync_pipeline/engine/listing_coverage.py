"""Which stored keys a walk over a key-ordered, page-numbered listing proves gone.

Pages of a listing sorted by key are contiguous runs of it at the moment each is served. So a
key strictly between the first and last key of a page, yet not on it, was absent upstream at
that moment: it is gone. Page 1 starts the listing (nothing lies before its last key but what
it holds) and a short, non-empty page ends it. A key that falls between the last key of page N
and the first key of page N+1 may simply have slipped there when records before it were
deleted between the two requests: it is *undecided* until a later read of the listing places
it (`KeyCoverage.add_page` takes those re-reads too: the same pages again, and a page of
another size that holds the boundary inside it, which is what proves a key gone that sits
between two pages of a listing that no longer moves). The listing must be sorted by key (the
contract promises it for every list but `/users`); a page that is not shows it is not, and
then coverage is withdrawn and every missing key is undecided.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sync_pipeline.engine.records import Key


@dataclass(frozen=True)
class PageKeys:
    """The readable keys of one served page, in served order, and where it sits."""

    number: int
    keys: Sequence[Key]
    page_size: int
    served: int

    @property
    def is_sorted(self) -> bool:
        return all(a < b for a, b in zip(self.keys, self.keys[1:]))

    @property
    def ends_listing(self) -> bool:
        return 0 < self.served < self.page_size


@dataclass
class KeyCoverage:
    """Key intervals proven complete by the pages seen (walk and re-reads), per page number."""

    intervals: list[tuple[int, Key | None, Key | None]] = field(default_factory=list)
    latest: dict[int, PageKeys] = field(default_factory=dict)
    withdrawn: str | None = None

    def add_page(self, page: PageKeys, page_size_of_walk: bool = True) -> None:
        """Record a served page (`page_size_of_walk`: read in the walk's page size, so that it
        can stand for its page number); withdraws all coverage when the page is not sorted."""
        if not page.keys:
            if page.number == 1 and page.served == 0:  # the whole listing was empty
                self.intervals.append((1, None, None))
            return
        if not page.is_sorted:
            self.withdrawn = f"page {page.number} was not sorted by key"
        low = None if page.number == 1 else page.keys[0]
        high = None if page.ends_listing else page.keys[-1]
        self.intervals.append((page.number, low, high))
        if page_size_of_walk:
            self.latest[page.number] = page

    def covers(self, key: Key) -> bool:
        """Whether some page proves that `key`, had it been live then, would have been on it."""
        if self.withdrawn is not None:
            return False
        return any(
            (low is None or low <= key) and (high is None or key <= high)
            for _, low, high in self.intervals
        )

    def split(self, missing: Iterable[Key]) -> tuple[list[Key], list[Key]]:
        """(gone, undecided): missing keys a page proves gone, and the others."""
        gone: list[Key] = []
        undecided: list[Key] = []
        for key in missing:
            (gone if self.covers(key) else undecided).append(key)
        return gone, undecided

    def runs_of(self, undecided: Iterable[Key]) -> list[list[Key]]:
        """The undecided keys in runs, sorted, split wherever a key seen on some page lies between
        two of them: one read that places the first key of a run next to its live neighbours
        decides the rest of it, while keys of different runs may sit pages apart now. (A seen
        key between two undecided ones implies a page edge between them: had a page's range
        held both, they would not be undecided.) Page edges, unlike page numbers, keep their
        meaning however far the listing shifted since they were read."""
        edges = sorted(
            {edge for _, low, high in self.intervals for edge in (low, high) if edge is not None}
        )
        runs: list[list[Key]] = []
        for key in sorted(undecided):
            if runs and bisect.bisect_left(edges, key) == bisect.bisect_left(edges, runs[-1][-1]):
                runs[-1].append(key)
            else:
                runs.append([key])
        return runs

    def gaps_of(self, undecided: Iterable[Key]) -> list[int]:
        """For each undecided key, the page N (by the latest reads in the walk's page size) after
        which it falls: the boundary between pages N and N+1 to read again."""
        numbers = sorted(self.latest)
        firsts = [self.latest[n].keys[0] for n in numbers]
        gaps: set[int] = set()
        for key in undecided:
            index = bisect.bisect_right(firsts, key)  # pages starting at or before the key
            gaps.add(numbers[index - 1] if index else 1)
        return sorted(gaps)
