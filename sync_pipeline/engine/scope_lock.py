"""One writer per (pipeline, partition): a session-level PostgreSQL advisory lock.

`scope_lock` tries once and raises `ScopeBusy` rather than waiting: a second run of the same
scope has nothing useful to do until the first ends, and the orchestrator can retry it later.
The lock lives as long as the connection's session, so a crashed run releases it with its
connection; nothing has to be cleaned up by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import xxhash
from psycopg.pq import TransactionStatus


class ScopeBusy(RuntimeError):
    """Another session holds the scope's lock: a run of the same pipeline and partition is
    writing."""


def scope_lock_key(pipeline: str, partition: str) -> int:
    """The advisory lock key of a scope: a signed 64-bit hash of its names."""
    digest = xxhash.xxh3_64_intdigest(f"sync_scope\x1f{pipeline}\x1f{partition}".encode())
    return digest - 2**64 if digest >= 2**63 else digest


@contextmanager
def scope_lock(conn: psycopg.Connection, pipeline: str, partition: str) -> Iterator[None]:
    """Hold the scope's lock on `conn`'s session for the block; raises `ScopeBusy` if taken.

    Keep `conn` open and unused by others for the whole block: closing it releases the lock.
    """
    key = scope_lock_key(pipeline, partition)
    with conn.transaction():
        acquired = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
        holder = None if acquired else _holder_pid(conn, key)
    if not acquired:
        raise ScopeBusy(
            f"pipeline {pipeline!r}, partition {partition!r} is being written by another run "
            f"(PostgreSQL backend pid {holder}); try again when it ends"
        )
    try:
        yield
    finally:
        if not conn.closed:
            if conn.info.transaction_status == TransactionStatus.INERROR:
                conn.rollback()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _holder_pid(conn: psycopg.Connection, key: int) -> int | None:
    unsigned = key % 2**64
    found = conn.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        (unsigned >> 32, unsigned & 0xFFFFFFFF),
    ).fetchone()
    return found[0] if found else None
