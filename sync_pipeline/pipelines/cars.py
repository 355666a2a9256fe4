"""A cars sync (upstream-api.md section 2) without Dagster: walk `/cars`, write `cars`.

    scope = CarsScope.for_window("2026-11-20", since, until)     # or CarsScope.full_refresh()
    outcome = asyncio.run(sync_cars(pool, client, scope, run_id, settings))

A full refresh walks the whole catalogue and is the only scope that may delist (soft-delete)
cars; an incremental scope walks one `updated_at` window. Both resume from their checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from operator import itemgetter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.http import ApiClient, PagedListing, ProgressReporter
from sync_pipeline.engine.listing_sync import ListingWalk, relaxed_gc, sync_paged_listing
from sync_pipeline.engine.sync_result import SyncResult
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline.entities.cars import CARS

PIPELINE = "cars"
FULL_REFRESH_SCOPE = "full"
DIFF_SAMPLE = 20


@dataclass(frozen=True)
class CarsScope:
    """Which cars a run covers: a half-open `updated_at` window, or the whole catalogue."""

    label: str
    updated_since: datetime | None = None
    updated_until: datetime | None = None

    @classmethod
    def full_refresh(cls) -> "CarsScope":
        return cls(FULL_REFRESH_SCOPE)

    @classmethod
    def for_window(cls, label: str, since: datetime, until: datetime) -> "CarsScope":
        return cls(label, since, until)

    @property
    def is_full_refresh(self) -> bool:
        return self.updated_since is None and self.updated_until is None

    def query_params(self) -> dict[str, str]:
        params = {}
        if self.updated_since is not None:
            params["updated_since"] = _iso(self.updated_since)
        if self.updated_until is not None:
            params["updated_until"] = _iso(self.updated_until)
        return params


@dataclass(frozen=True)
class CarsSyncSettings:
    """The knobs of a cars run (the original job's names and defaults)."""

    page_size: int = 100
    batch_size: int = 500
    parallel_batches: int = 6
    force_delist: bool = False


@dataclass
class CarsSyncOutcome:
    """Everything a run did, for metadata, checks and the CLI summary."""

    scope: CarsScope
    page_size: int
    walk: ListingWalk
    result: SyncResult
    http: dict[str, Any]
    elapsed_s: float
    live_rows: int
    resumed_from_page: int | None
    diff_sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def warm_rates(self) -> tuple[float, float]:
        """(pages/s, rows/s) after the first page, i.e. after warm-up (connect, first total)."""
        span = max(self.walk.elapsed_s - self.walk.first_page_s, 1e-9)
        pages = max(self.walk.pages - 1, 0)
        rows = self.walk.records * pages / self.walk.pages if self.walk.pages else 0
        return pages / span, rows / span

    @property
    def error_rate(self) -> float:
        """Failed attempts (any class, 429s included) per request sent."""
        errors = sum(v for k, v in self.http.items() if k.startswith("errors_"))
        return errors / max(self.http.get("requests", 0), 1)


async def sync_cars(pool: ConnectionPool, client: ApiClient, scope: CarsScope, run_id: str,
                    settings: CarsSyncSettings = CarsSyncSettings(), progress_label: str = "cars") -> CarsSyncOutcome:
    """Walk the scope's pages from its checkpoint on into `cars`; delist only on a full refresh.

    Raises what the client raises (the checkpoint then points after the last committed page),
    `ScopeBusy` when another run holds the scope, and the first batch error.
    """
    started = time.monotonic()
    listing = PagedListing("/cars", "items", "page_size", settings.page_size, scope.query_params())
    options = WriteOptions(batch_size=settings.batch_size, parallel_batches=settings.parallel_batches,
                           preload_fingerprints=True)
    # relaxed_gc: the walk's own window ends before the last batches are written in `finish`.
    with relaxed_gc(), SyncRun(pool, CARS, pipeline=PIPELINE, partition=scope.label, run_id=run_id,
                                options=options) as run:
        resumed_from = run.checkpoint.next_page if run.checkpoint.resumed else None
        async with ProgressReporter(client.metrics, progress_label) as progress:
            walk = await sync_paged_listing(client, listing, run, key=itemgetter("id"), progress=progress)
        result = await asyncio.to_thread(run.finish, full_snapshot=scope.is_full_refresh,
                                         force_soft_delete=settings.force_delist)
    return CarsSyncOutcome(scope, settings.page_size, walk, result, client.metrics.snapshot(), time.monotonic() - started,
                           live_rows=count_live_cars(pool), resumed_from_page=resumed_from,
                           diff_sample=changed_fields_sample(pool, run_id))


def count_live_cars(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT count(*) FROM cars WHERE deleted_at IS NULL").fetchone()[0]


def changed_fields_sample(pool: ConnectionPool, run_id: str, limit: int = DIFF_SAMPLE) -> list[dict[str, Any]]:
    """Up to `limit` field-level diffs this run logged, for the run's summary."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT record_key, column_name, old_value, new_value FROM sync_change_log "
            "WHERE run_id = %s AND entity = 'cars' ORDER BY id LIMIT %s", (run_id, limit)).fetchall()
    return [{"id": key, "field": column, "old": old, "new": new} for key, column, old, new in rows]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
