"""Churn during a full sync of users and contacts: a record live for the whole walk is never
delisted, one deleted before the walk is delisted by it, and the next sync leaves the table
equal to the upstream, record by record (cars: `test_churn.py`, with the hostile profile on
top).

Every scope keeps its deletions (before and during the walk) under the engine's 5% safety
threshold, at which a walk refuses to delist anything and says so: store users are not here,
because a store's scope of a few dozen users crosses it with two deletions.

The upstream deletes, inserts and updates records (`/_admin/churn`) while the sync walks the
listing, slowed down so that the churn overlaps it. Ids are compared as the client sees them
(the last part of a grouped key; ids of a kind are never reused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.entities.contacts import CONTACTS
from sync_pipeline.entities.users import USERS
from sync_pipeline.upstream.process import UpstreamProcess
from sync_pipeline_tests.defs.users.conftest import upstream_users
from sync_pipeline_tests.reliability.plugin import Figures
from sync_pipeline_tests.reliability.sources import (
    contacts_full_refresh,
    users_full_sync,
)
from sync_pipeline_tests.reliability.test_hostile import assert_exact
from sync_pipeline_tests.reliability.truth import compare, contact_records

CHURN_S = 30


@dataclass(frozen=True)
class ChurnCase:
    """One source's churn: what churns, how its sync runs, how its truth is read."""

    source: str  # what `/_admin/churn`, `mutate` and `faults` take
    spec: EntitySpec
    sizes: dict[str, int]
    latency_ms: list[int]  # per request, so that the walk lasts while the churn goes on
    per_second: dict[str, float]
    sync: Callable[[ConnectionPool, UpstreamProcess], Any]
    read: Callable[[UpstreamProcess], list[dict]]


CASES = [
    ChurnCase(
        "users",
        USERS,
        {"users": 600},
        [100, 200],
        {"delete": 6, "insert": 3, "update": 6},
        users_full_sync,
        lambda server: list(upstream_users(server.url).values()),
    ),
    ChurnCase(
        "contacts",
        CONTACTS,
        {"contacts": 1500, "workspaces": 1},
        [120, 200],
        {"delete": 2, "insert": 4, "update": 6},
        contacts_full_refresh,
        lambda server: contact_records(server.url),
    ),
]


def live_and_delisted(db: psycopg.Connection, spec: EntitySpec) -> tuple[set[str], set[str]]:
    """Ids (as text) of the table's live and delisted rows."""
    query = sql.SQL("SELECT id::text, deleted_at IS NULL FROM {}").format(
        sql.Identifier(spec.table)
    )
    rows = db.execute(query).fetchall()
    return {i for i, live in rows if live}, {i for i, live in rows if not live}


def ids(records: list[Any]) -> set[str]:
    return {str(record) for record in records}


@pytest.mark.parametrize("case", CASES, ids=[case.source for case in CASES])
def test_churn_during_a_full_sync_never_delists_a_live_record(
    case: ChurnCase, fresh_upstream, db_url, db, seed, figures: Figures
):
    server = fresh_upstream(seed, **case.sizes)
    with open_pool(db_url, max_size=6, name="churn") as pool:
        case.sync(pool, server)
        gone_before = ids(
            server.admin("mutate", {"source": case.source, "delete": 0.01})["deleted"]
        )
        walk_start = {str(r["id"]) for r in case.read(server)}
        server.admin("faults", {"source": case.source, "latency_ms": case.latency_ms})
        spell = {"source": case.source, "seconds": CHURN_S, "per_second": case.per_second}
        server.admin("churn", spell)
        case.sync(pool, server)
        churned = server.admin("churn/stop", {})
        deleted_during = ids(churned["deleted"])
        assert deleted_during, "the churn must overlap the walk"

        live, delisted = live_and_delisted(db, case.spec)
        live_throughout = walk_start - deleted_during
        assert not live_throughout & delisted, "a record live during the whole walk was delisted"
        assert live_throughout <= live
        assert gone_before and gone_before <= delisted, "deleted before the walk: delisted by it"

        server.admin("faults", {"source": case.source, "latency_ms": [0, 0]})
        case.sync(pool, server)
    truth = case.read(server)  # as the syncs saw it: no faults, no odd records
    changes = sum(len(churned[kind]) for kind in ("deleted", "inserted", "updated"))
    assert_exact(
        figures,
        "upstream churn during a full sync",
        changes + len(gone_before),
        compare(db, case.spec, truth, seed, case.source),
    )
