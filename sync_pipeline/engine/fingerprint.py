"""A record's fingerprint: xxh3-128 of the canonical JSON of its business fields (16 bytes).

Canonical form: the record's top-level fields minus the key and the volatile fields, minus
fields whose value is null (so a missing optional field and an explicit null are the same),
serialised by orjson with keys sorted at every depth, compact, UTF-8. Lists keep their order:
a reordered list is a change. Values are fingerprinted as received, before typing, so that an
unchanged record costs no conversion at all.

The form depends only on the JSON values, never on dict order, process, hash seed or Python
version; `sync_pipeline_tests/engine/db/test_fingerprint.py` pins golden digests. Changing
anything here changes every stored fingerprint and makes the next sync rewrite every row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import xxhash

FINGERPRINT_BYTES = 16
_SORT_KEYS = orjson.OPT_SORT_KEYS
_dumps = orjson.dumps
digest = xxhash.xxh3_128_digest
"""`digest(canonical_json_bytes) -> 16 bytes`: the hash half of `fingerprint`, for hot loops."""


class FingerprintError(ValueError):
    """The record holds a value JSON cannot express canonically (say, an int over 64 bits)."""


def canonical_json(record: Mapping[str, Any], excluded: frozenset[str]) -> bytes:
    """The canonical JSON bytes of `record` without the `excluded` fields and null values.

    Raises `FingerprintError` when a value cannot be serialised (non-string keys, integers
    beyond 64 bits, lone surrogates, non-JSON types).
    """
    business = dict(record)
    for name in excluded:
        business.pop(name, None)
    if None in business.values():
        business = {k: v for k, v in business.items() if v is not None}
    try:
        return _dumps(business, option=_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise FingerprintError(f"record cannot be fingerprinted: {exc}") from None


def fingerprint(record: Mapping[str, Any], excluded: frozenset[str]) -> bytes:
    """The 16-byte xxh3-128 digest of `canonical_json(record, excluded)`."""
    return digest(canonical_json(record, excluded))
