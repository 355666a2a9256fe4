"""Strip U+0000 from fetched records: PostgreSQL text and jsonb cannot hold it, the rest can.

A NUL inside a string value is noise an API let through (the contract lists it among what a
client must survive), so it is removed and counted. A NUL in a field name or in the record's
key changes what the record *is*; stripping it could merge two fields or two records, so those
records are rejected (quarantined) instead.
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"


class NulInName(ValueError):
    """A field name (at any depth) holds a NUL; `str(exc)` is the quarantine reason."""


def strip_nul(value: Any) -> tuple[Any, int]:
    """`value` with NUL removed from every string, at any depth, and how many strings changed.

    Returns `value` itself when nothing changed; never edits it in place. Raises `NulInName`.
    """
    kind = type(value)
    if kind is str:
        return (value.replace(NUL, ""), 1) if NUL in value else (value, 0)
    if kind is dict:
        changed, out = 0, {}
        for name, item in value.items():
            if type(name) is str and NUL in name:
                raise NulInName(f"field name {name!r} contains a NUL character")
            out[name], count = strip_nul(item)
            changed += count
        return (out, changed) if changed else (value, 0)
    if kind is list:
        changed, items = 0, []
        for item in value:
            clean, count = strip_nul(item)
            items.append(clean)
            changed += count
        return (items, changed) if changed else (value, 0)
    return value, 0
