"""Dagster's instance storage on the project's PostgreSQL, in its own database
(`SYNC_DAGSTER_DATABASE`, default `dagster`).

`dagster.yaml` names this class instead of `postgres:` with a fixed URL, so that every way of
starting Dagster from the project root (`sync-pipeline dev`, `dg dev`, `dg check defs`,
`dagster dev`) finds the same server: `SYNC_DATABASE_URL` when set, else the embedded one.

Each of its three storages keeps one pooled connection (as Dagster's webserver does) instead of
dagster-postgres' default of a new connection for every query: a cars run stores a few dozen
events, and on a busy server the new connections cost a `sync` command tens of seconds.

Its event log storage (`ProjectEventLogStorage`) claims a pool slot in one guarded statement,
sets a new pool's limit from two processes at once without failing, and writes the planned
materializations of a run over many partitions in one statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage

from sync_pipeline.dagster_private import (
    ConcurrencySlotsTable,
    ConcurrencySlotStatus,
    ConfigurableClassData,
    SqlEventLogStorageTable,
)
from sync_pipeline.db.connect import app_database_url, dagster_database_url

POOL_RECYCLE_S = 3600
POOL_MAX_OVERFLOW = 4


class ProjectEventLogStorage(PostgresEventLogStorage):
    """`PostgresEventLogStorage` whose pool slot claim cannot give one slot to two steps, and
    that writes a run's planned materializations in one statement.

    Dagster 1.13 claims a slot with a `SELECT ... FOR UPDATE SKIP LOCKED` on an autocommit
    connection (the lock ends with that statement), then an UPDATE of the row found that does
    not check the row is still free. Two steps claiming at the same moment (two backfills of one
    source launched together) both find the pool's only free slot and both "claim" it: a pool
    limited to 1 ran two steps at once. Here the claim is one UPDATE of a free row that is
    still free when it is written; the step that loses stays blocked and claims on a later try.
    """

    def set_concurrency_slots(self, concurrency_key: str, num: int) -> None:
        """Set a pool's limit; two processes setting a new pool at once do not fail.

        Dagster inserts a new pool's `concurrency_limits` row after finding none, so two
        processes starting together (two `sync-pipeline worker`s setting the stores group pool)
        both insert it and one fails on the unique key. That one retries, and finds the row.
        """
        try:
            super().set_concurrency_slots(concurrency_key, num)
        except sa.exc.IntegrityError:
            super().set_concurrency_slots(concurrency_key, num)

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        """Store `events` in order; a stretch of planned materializations in one INSERT.

        A run over a range of partitions plans a materialization per asset and partition (168
        for a full refresh of cars) and hands them to the storage in one batch, which
        dagster-postgres writes one event, one transaction, at a time (0.43 s of a `sync`
        command). Here they are written the way it writes a batch of materializations: one
        INSERT of every row, their tags, and the asset's row updated from its last event (what
        updating it from each event in turn leaves). Other events keep dagster-postgres' path.
        """
        for event_type, same_type in groupby(events, key=_event_type):
            stretch = list(same_type)
            if event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED and len(stretch) > 1:
                self._store_planned_materializations(stretch)
            else:
                super().store_event_batch(stretch)

    def _store_planned_materializations(self, events: list[dg.EventLogEntry]) -> None:
        insert = self.prepare_insert_event_batch(events)
        with self._connect() as conn:
            rows = conn.execute(insert.returning(SqlEventLogStorageTable.c.id)).fetchall()
        event_ids = [int(row[0]) for row in rows]
        last_of_asset = {
            event.get_dagster_event().asset_key: (event, event_id)
            for event, event_id in zip(events, event_ids, strict=True)
        }
        with self.index_transaction() as conn:
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in last_of_asset.values():
                self._store_asset_event(conn, event, event_id)

    def _claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str
    ) -> ConcurrencySlotStatus:
        slots = ConcurrencySlotsTable
        free = sa.and_(
            slots.c.concurrency_key == concurrency_key,
            slots.c.step_key.is_(None),
            slots.c.deleted.is_(False),
        )
        one_free = (
            sa.select(slots.c.id).where(free).limit(1).with_for_update(skip_locked=True)
        ).scalar_subquery()
        claim = slots.update().where(slots.c.id == one_free, free)
        with self.index_connection() as conn:
            claimed = conn.execute(claim.values(run_id=run_id, step_key=step_key)).rowcount
        return ConcurrencySlotStatus.CLAIMED if claimed else ConcurrencySlotStatus.BLOCKED


class ProjectPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` whose URL is resolved at start-up instead of configured, with
    the slot-safe event log storage."""

    def __init__(self, postgres_url: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(postgres_url=postgres_url, inst_data=inst_data)
        self._event_log_storage = ProjectEventLogStorage(postgres_url)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> ProjectPostgresStorage:
        url = dagster_database_url(app_database_url())
        storage = cls(postgres_url=url.psycopg2_url(), inst_data=inst_data)
        storage.hold_connections()
        return storage

    def hold_connections(self) -> None:
        """One kept connection per storage (plus up to POOL_MAX_OVERFLOW while busy), no
        statement timeout: what dagster-postgres does for its webserver, for every process."""
        for part in (self.run_storage, self.event_log_storage, self.schedule_storage):
            part.optimize_for_webserver(
                statement_timeout=0, pool_recycle=POOL_RECYCLE_S, max_overflow=POOL_MAX_OVERFLOW
            )


def _event_type(event: dg.EventLogEntry) -> dg.DagsterEventType | None:
    return event.dagster_event.event_type if event.dagster_event is not None else None
