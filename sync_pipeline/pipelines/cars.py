"""A cars sync (upstream-api.md section 2) without Dagster: walk `/cars`, write `cars`.

    scope = CarsScope.for_window("2026-11-20", since, until)     # or CarsScope.full_refresh()
    outcome = asyncio.run(sync_cars(pool, client, scope, run_id, settings))

A full refresh walks the whole catalogue and is the only scope that may delist (soft-delete)
cars; an incremental scope walks one `updated_at` window. Both resume from their checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.checkpoints import listing_layout
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
    def full_refresh(cls) -> CarsScope:
        return cls(FULL_REFRESH_SCOPE)

    @classmethod
    def for_window(cls, label: str, since: datetime, until: datetime) -> CarsScope:
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
    """The knobs of a cars run (the original job's names). The defaults are the settings `bench
    cars` measured best: the API's largest page, 5000 rows per transaction, 2 in flight."""

    page_size: int = 1000
    batch_size: int = 5000
    parallel_batches: int = 2
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
    quarantined_not_live: int = 0
    resume_note: str | None = None
    """Set when the checkpoint was written with another page size or listing: translated or
    started over (see `checkpoints.plan_resume`)."""

    @property
    def accounted_rows(self) -> int:
        """Live rows plus this run's quarantined records that have no live row (a quarantined
        record whose key has a live row keeps its last loadable version and counts once)."""
        return self.live_rows + self.quarantined_not_live

    @property
    def quarantine_share(self) -> float:
        """Quarantined records per record received."""
        return self.result.quarantined / max(self.walk.records, 1)

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


async def sync_cars(
    pool: ConnectionPool,
    client: ApiClient,
    scope: CarsScope,
    run_id: str,
    settings: CarsSyncSettings = CarsSyncSettings(),
    progress_label: str = "cars",
) -> CarsSyncOutcome:
    """Walk the scope's pages from its checkpoint on into `cars`; delist only on a full refresh.

    Raises what the client raises (the checkpoint then points after the last committed page),
    `ScopeBusy` when another run holds the scope, and the first batch error.
    """
    started = time.monotonic()
    listing = PagedListing("/cars", "items", "page_size", settings.page_size, scope.query_params())
    # A full refresh needs every stored fingerprint (it delists what it did not see); a window
    # looks up only its own records' keys, per batch, instead of loading the whole table's
    # (0.4 s for 200k cars, for an hourly window that often holds no record at all).
    options = WriteOptions(
        batch_size=settings.batch_size,
        parallel_batches=settings.parallel_batches,
        preload_fingerprints=scope.is_full_refresh,
    )
    # relaxed_gc: the walk's own window ends before the last batches are written in `finish`.
    with (
        relaxed_gc(),
        SyncRun(
            pool,
            CARS,
            pipeline=PIPELINE,
            partition=scope.label,
            run_id=run_id,
            options=options,
            layout=listing_layout(listing.page_size, listing.params),
        ) as run,
    ):
        resumed_from = run.checkpoint.next_page if run.checkpoint.resumed else None
        resume_note = run.checkpoint.note
        async with ProgressReporter(client.metrics, progress_label) as progress:
            walk = await sync_paged_listing(
                client,
                listing,
                run,
                key=itemgetter("id"),
                progress=progress,
                full_snapshot=scope.is_full_refresh,
            )
        result = await asyncio.to_thread(
            run.finish,
            full_snapshot=scope.is_full_refresh,
            force_soft_delete=settings.force_delist,
            undecided=walk.undecided,
            undecided_reason=walk.undecided_reason,
        )
    return CarsSyncOutcome(
        scope,
        settings.page_size,
        walk,
        result,
        client.metrics.snapshot(),
        time.monotonic() - started,
        live_rows=count_live_cars(pool),
        resumed_from_page=resumed_from,
        resume_note=resume_note,
        diff_sample=changed_fields_sample(pool, run_id),
        quarantined_not_live=count_quarantined_not_live(pool, run_id),
    )


def count_live_cars(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT count(*) FROM cars WHERE deleted_at IS NULL").fetchone()[0]


def count_quarantined_not_live(pool: ConnectionPool, run_id: str) -> int:
    """This run's quarantined cars without a live row (unkeyed ones included), counted once each."""
    with pool.connection() as conn:
        return conn.execute(
            "SELECT count(DISTINCT q.record_key) + count(*) FILTER (WHERE q.record_key IS NULL) "
            "FROM sync_quarantine q WHERE q.run_id = %s AND q.entity = 'cars' AND NOT EXISTS "
            "(SELECT 1 FROM cars c WHERE c.id::text = q.record_key AND c.deleted_at IS NULL)",
            (run_id,),
        ).fetchone()[0]


def changed_fields_sample(
    pool: ConnectionPool, run_id: str, limit: int = DIFF_SAMPLE
) -> list[dict[str, Any]]:
    """Up to `limit` field-level diffs this run logged, for the run's summary."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT record_key, column_name, old_value, new_value FROM sync_change_log "
            "WHERE run_id = %s AND entity = 'cars' ORDER BY id LIMIT %s",
            (run_id, limit),
        ).fetchall()
    return [{"id": key, "field": column, "old": old, "new": new} for key, column, old, new in rows]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
