"""Where the detector stands (its cursor) and which `updated_at` window a tick lists.

The cursor is JSON in Dagster's sensor cursor:
`{"hwm": ISO|null, "listed_at": ISO|null, "tick": n}`.

- `hwm`: every user with `updated_at < hwm` was seen by a complete, stable walk;
- `listed_at`: our clock when that walk ran;
- `tick`: how many ticks completed (a re-evaluated tick has the same number, see `detect.py`).

A tick lists the half-open window `[since, until)`, the API's own semantics, with
`since = min(hwm, listed_at - overlap)` and `until = min(now, since + max_span)`. Near the present
the last `overlap` (2 min) is listed again, for users stamped by a clock behind ours or
committed late; while catching up on a backlog (`hwm` far behind `listed_at`) windows follow
each other without re-reading. Re-reading costs a list page, never a detail call: seen users are
compared by fingerprint, and versions already asked for wait in `users_pending_changes`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sync_pipeline.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """`since <= updated_at < until`; `since` None means from the beginning."""

    since: datetime | None
    until: datetime | None

    def params(self) -> dict[str, str]:
        params = {}
        if self.since is not None:
            params["updated_since"] = iso(self.since)
        if self.until is not None:
            params["updated_until"] = iso(self.until)
        return params

    def describe(self) -> str:
        since = iso(self.since) if self.since else "the beginning"
        return f"[{since}, {iso(self.until) if self.until else 'now'})"


@dataclass(frozen=True)
class DetectorCursor:
    hwm: datetime | None = None
    listed_at: datetime | None = None
    tick: int = 0

    @classmethod
    def parse(cls, text: str | None) -> DetectorCursor:
        """The cursor stored by a previous tick (None or empty: a fresh detector).

        Raises `ConfigError` for a cursor this detector did not write.
        """
        if not text:
            return cls()
        try:
            data: Any = json.loads(text)
            return cls(
                _instant(data.get("hwm")), _instant(data.get("listed_at")), int(data.get("tick", 0))
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"users detector: unreadable cursor {text[:200]!r}: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(
            {
                "hwm": iso(self.hwm) if self.hwm else None,
                "listed_at": iso(self.listed_at) if self.listed_at else None,
                "tick": self.tick,
            },
            sort_keys=True,
        )

    @property
    def next_tick(self) -> int:
        return self.tick + 1

    def window(self, now: datetime, overlap: timedelta, max_span: timedelta) -> Window:
        """The window the next tick lists (see the module docstring)."""
        if self.hwm is None:
            return Window(None, now)
        since = self.hwm if self.listed_at is None else min(self.hwm, self.listed_at - overlap)
        return Window(since, min(now, since + max_span))

    def advanced(self, new_hwm: datetime | None, listed_at: datetime) -> DetectorCursor:
        """The cursor after a tick that saw everything below `new_hwm` (None: no progress)."""
        if new_hwm is None or (self.hwm is not None and new_hwm <= self.hwm):
            return replace(self, tick=self.next_tick)
        return DetectorCursor(new_hwm, listed_at, self.next_tick)


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with milliseconds and `Z`, as the API writes timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string (no offset: UTC), or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = parse_instant(value)
    if moment is None:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}")
    return moment
