"""Run a unit of database work in its own transaction, retried when PostgreSQL says so.

Only the two failures that a retry fixes are retried: a deadlock victim (40P01) and a
serialization failure (40001). Every other error is raised at once. Waits are exponential
backoff with full jitter, so concurrent writers that collided do not collide again in step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import psycopg
from psycopg.errors import DeadlockDetected, SerializationFailure
from psycopg_pool import ConnectionPool

T = TypeVar("T")
RETRYABLE_DB_ERRORS = (DeadlockDetected, SerializationFailure)


@dataclass
class TransactionRetry:
    """How often a transaction is tried and how long to wait in between; counts the retries."""

    attempts: int = 5
    backoff_base_s: float = 0.05
    backoff_cap_s: float = 2.0
    retries: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def wait_s(self, failures: int) -> float:
        return self.rng.uniform(
            0.0, min(self.backoff_cap_s, self.backoff_base_s * 2 ** (failures - 1))
        )


def in_transaction(
    pool: ConnectionPool,
    work: Callable[[psycopg.Connection], T],
    retry: TransactionRetry | None = None,
) -> T:
    """`work(conn)` inside one transaction on a pooled connection; its result once committed.

    Retried whole after a deadlock or serialization failure (so `work` must be idempotent
    within its transaction, which a rollback guarantees); raises the last such error when the
    attempts run out, and any other error at once.
    """
    retry = retry or TransactionRetry()
    failures = 0
    while True:
        try:
            with pool.connection() as conn, conn.transaction():
                return work(conn)
        except RETRYABLE_DB_ERRORS:
            failures += 1
            if failures >= retry.attempts:
                raise
            retry.retries += 1
            time.sleep(retry.wait_s(failures))
