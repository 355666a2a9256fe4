"""One workspace's contacts: walk `/contacts?workspace_id=W` into table `contacts`.

    outcome = await sync_workspace(pool, client, "ws_1a2b", run_id, ContactsSyncSettings())

A full refresh walks the whole workspace and soft-deletes its contacts that are gone (within
the workspace's scope, behind the engine's safety threshold). An incremental run walks only
contacts with `updated_at >= since`, where `since` is the newest `updated_at` stored for the
workspace minus `lookback` (records updated while an earlier walk was under way may carry an
older `updated_at` than the newest one it stored; the nightly full refresh catches the rest).
Pages are written batch by batch with the cursor as checkpoint, so a failed run resumes after
its last committed page (an incremental one only with the same `since`).
Updated rows fire the field-change trigger of sql/009_contacts.sql in the same transaction.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from psycopg_pool import ConnectionPool

from sync_pipeline.engine.checkpoints import Position, listing_layout
from sync_pipeline.engine.http import ApiClient, fetch_cursor_pages
from sync_pipeline.engine.sync_result import SyncResult
from sync_pipeline.engine.sync_run import SyncRun
from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline.entities.contacts import CONTACTS

PIPELINE = "contacts"
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class ContactsSyncSettings:
    """The knobs of a contacts run: the API's largest page, rows per transaction, lookback."""

    page_size: int = MAX_PAGE_SIZE
    batch_size: int = 2000
    full_refresh: bool = False
    lookback: timedelta = timedelta(minutes=15)
    force_delist: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")


@dataclass
class WorkspaceOutcome:
    """What one workspace's run fetched and wrote, for metadata, checks and the CLI summary."""

    workspace_id: str
    full_refresh: bool
    since: datetime | None
    pages: int
    records: int
    result: SyncResult
    elapsed_s: float
    live_rows: int
    resumed: bool
    field_changes: int
    http: dict[str, Any] = field(default_factory=dict)
    resume_note: str | None = None
    """Set when the checkpoint was written with another page size or listing: resumed as is
    (a cursor) or started over (see `checkpoints.plan_resume`)."""

    @property
    def scope_label(self) -> str:
        return checkpoint_partition(self.workspace_id, self.since)


async def sync_workspace(
    pool: ConnectionPool,
    client: ApiClient,
    workspace_id: str,
    run_id: str,
    settings: ContactsSyncSettings = ContactsSyncSettings(),
) -> WorkspaceOutcome:
    """Walk one workspace's contacts (all, or those updated since the stored high-water mark).

    Raises what the client raises (the checkpoint then points after the last committed page),
    `ScopeBusy` when another run holds the same scope, and the first batch error.
    """
    started = time.monotonic()
    started_at = database_now(pool)
    since = (
        None if settings.full_refresh else incremental_since(pool, workspace_id, settings.lookback)
    )
    params = {"workspace_id": workspace_id, **({"updated_since": _iso(since)} if since else {})}
    options = WriteOptions(
        batch_size=settings.batch_size, parallel_batches=1, preload_fingerprints=True
    )
    pages = records = 0
    with SyncRun(
        pool,
        CONTACTS,
        pipeline=PIPELINE,
        partition=checkpoint_partition(workspace_id, since),
        run_id=run_id,
        scope={"workspace_id": workspace_id},
        options=options,
        layout=listing_layout(settings.page_size, params),
    ) as run:
        resumed = run.checkpoint.resumed and run.checkpoint.cursor is not None
        resume_note = run.checkpoint.note
        pages = (run.checkpoint.page or 0) if resumed else 0
        start = run.checkpoint.cursor if resumed else None
        async for page in fetch_cursor_pages(
            client,
            "/contacts",
            key=itemgetter("id"),
            limit=settings.page_size,
            params=params,
            start_cursor=start,
        ):
            pages += 1
            records += len(page.records) - page.replaced
            position = Position(page=pages, cursor=page.next_cursor)
            await asyncio.to_thread(run.add_page, page.records, position)
        result = await asyncio.to_thread(
            run.finish, full_snapshot=settings.full_refresh, force_soft_delete=settings.force_delist
        )
    return WorkspaceOutcome(
        workspace_id,
        settings.full_refresh,
        since,
        pages,
        records,
        result,
        time.monotonic() - started,
        live_rows=count_live_contacts(pool, workspace_id),
        resumed=resumed,
        field_changes=count_field_changes(pool, result, started_at),
        http=client.metrics.snapshot(),
        resume_note=resume_note,
    )


def checkpoint_partition(workspace_id: str, since: datetime | None) -> str:
    """The checkpoint's name: a resume continues the same walk (same workspace, same `since`)."""
    return f"{workspace_id}:full" if since is None else f"{workspace_id}:since={_iso(since)}"


def incremental_since(
    pool: ConnectionPool, workspace_id: str, lookback: timedelta
) -> datetime | None:
    """The newest stored `updated_at` of the workspace minus `lookback`; None when it has none."""
    with pool.connection() as conn:
        newest = conn.execute(
            "SELECT max(updated_at) FROM contacts WHERE workspace_id = %s", (workspace_id,)
        ).fetchone()[0]
    return None if newest is None else newest - lookback


def count_live_contacts(pool: ConnectionPool, workspace_id: str) -> int:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT count(*) FROM contacts WHERE workspace_id = %s AND deleted_at IS NULL",
            (workspace_id,),
        ).fetchone()[0]


def database_now(pool: ConnectionPool) -> datetime:
    with pool.connection() as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def count_field_changes(pool: ConnectionPool, result: SyncResult, since: datetime) -> int:
    """Watched-field changes the run's updates logged (the trigger writes them with the row)."""
    if not result.updated_keys:
        return 0
    ids = [str(key) for key in result.updated_keys]
    with pool.connection() as conn:
        return conn.execute(
            "SELECT count(*) FROM contact_field_changes WHERE contact_id = ANY(%s::uuid[]) "
            "AND changed_at >= %s",
            (ids, since),
        ).fetchone()[0]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
