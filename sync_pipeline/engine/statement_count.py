"""Count the SQL statements a piece of code sends, and the time spent in them, per connection.

    counter = StatementCounter()
    with counting(conn, counter):
        conn.execute(...)            # counted: 1 statement
    counter.statements, counter.seconds

The hook is psycopg's `cursor_factory`: every `conn.execute`, `cursor.execute`, `executemany`
(one per parameter set) and `copy` made on the connection inside the block is counted with its
wall time (round trip included). Transaction control that psycopg sends itself (BEGIN, COMMIT)
is not a statement of the code and is not counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg


class StatementCounter:
    """Statements and their seconds; safe to share between threads."""

    def __init__(self) -> None:
        self.statements = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def add(self, statements: int, seconds: float) -> None:
        with self._lock:
            self.statements += statements
            self.seconds += seconds

    def add_counter(self, other: StatementCounter) -> None:
        self.add(other.statements, other.seconds)


class _CountingCursor(psycopg.Cursor):
    counter: StatementCounter

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> _CountingCursor:
        started = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            self.counter.add(1, time.perf_counter() - started)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        params_seq = list(params_seq)
        started = time.perf_counter()
        try:
            super().executemany(query, params_seq, **kwargs)
        finally:
            self.counter.add(len(params_seq), time.perf_counter() - started)

    @contextmanager
    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Iterator[psycopg.Copy]:
        started = time.perf_counter()
        try:
            with super().copy(statement, params, **kwargs) as copy:
                yield copy
        finally:
            self.counter.add(1, time.perf_counter() - started)


@contextmanager
def counting(conn: psycopg.Connection, counter: StatementCounter) -> Iterator[psycopg.Connection]:
    """Count on `counter` every statement sent through `conn` inside the block."""
    factory = type("CountingCursor", (_CountingCursor,), {"counter": counter})
    saved = conn.cursor_factory
    conn.cursor_factory = factory
    try:
        yield conn
    finally:
        conn.cursor_factory = saved
