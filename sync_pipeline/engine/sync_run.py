"""`SyncRun`: one run writing fetched records of one (pipeline, partition) into its table.

    layout = listing_layout(page_size=1000)  # what the checkpoint's page numbers count in
    with SyncRun(pool, CARS, pipeline="cars", partition="all", run_id=run_id, layout=layout) as run:
        for page in fetch_pages(start=run.checkpoint.next_page):
            run.add_page(page.items, Position(page=page.number))
        result = run.finish(full_snapshot=True)

Opening takes the scope lock (`ScopeBusy` if another run holds it), checks the table against
the spec, resumes or starts the checkpoint and starts loading the scope's stored fingerprints
(in the background, while the first batch is fingerprinted). Pages are grouped into batches of
whole pages; each batch is classified and typed on the calling thread, then written on a pooled
connection in one transaction that also advances the checkpoint (`InFlightBatches`: up to
`parallel_batches` at once, committed in order). A batch that PostgreSQL picks as a deadlock
victim (possible only with another writer of the same rows) is retried whole, up to
`DEADLOCK_ATTEMPTS` times; its writes are idempotent. The first failure fails the run; leaving
the block without `finish()` marks the checkpoint `failed` (still resumable).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from typing import Any, Self

from psycopg import sql
from psycopg.errors import DeadlockDetected, LockNotAvailable
from psycopg_pool import ConnectionPool

from sync_pipeline.engine import checkpoints
from sync_pipeline.engine.batch import BatchResult, PreparedBatch, prepare_batch, write_batch
from sync_pipeline.engine.changeset import StoredFingerprints, classify, fingerprint_records
from sync_pipeline.engine.checkpoints import Checkpoint, Position
from sync_pipeline.engine.entity import EntitySpec
from sync_pipeline.engine.in_flight import InFlightBatches
from sync_pipeline.engine.records import Key
from sync_pipeline.engine.scope_lock import scope_lock
from sync_pipeline.engine.soft_delete import SnapshotOutcome, soft_delete_refusal, soft_delete_rows
from sync_pipeline.engine.staging import ANALYZE_MIN_ROWS, StagingTable
from sync_pipeline.engine.sync_result import SyncResult
from sync_pipeline.engine.table_check import check_table_matches_spec
from sync_pipeline.engine.write_options import WriteOptions

ANALYZE_TARGET_SHARE = 0.1
DEADLOCK_ATTEMPTS = 3
_START = Position()


class BatchLockTimeout(RuntimeError):
    """A batch waited longer than `WriteOptions.lock_timeout_s` for row locks; rolled back."""


class SyncRun:
    """Writes batches of records into `spec.table` for one run; use as a context manager.

    Not thread-safe: call it from one thread at a time (any thread, e.g. `asyncio.to_thread`).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        spec: EntitySpec,
        *,
        pipeline: str,
        partition: str,
        run_id: str,
        scope: Mapping[str, Any] | None = None,
        options: WriteOptions | None = None,
        layout: Mapping[str, Any] | None = None,
    ) -> None:
        """`scope`: the values of the spec's scope columns this run covers (a full snapshot
        soft-deletes only within it); omit it for specs without scope columns. `layout`: what
        this run's positions count in (page size, ordering, query parameters), so that a
        checkpoint of another layout is translated or started over (`checkpoints.plan_resume`).
        Raises `ValueError` when `scope` does not name exactly the spec's scope columns."""
        self.spec, self.pipeline, self.partition, self.run_id = spec, pipeline, partition, run_id
        self.scope = dict(scope or {})
        if set(self.scope) != set(spec.scope):
            raise ValueError(
                f"{spec.table}: scope must give {list(spec.scope)}, got {sorted(self.scope)}"
            )
        self.options = options or WriteOptions()
        self.layout = dict(layout) if layout is not None else None
        self.result = SyncResult()
        self.checkpoint: Checkpoint | None = None
        self._pool = pool
        self._exit = ExitStack()
        self._buffer: list = []
        self._buffer_position = Position()
        self._seen: set[Key] = set()
        self._stored_fingerprints: StoredFingerprints | None = None
        self._live_before = 0
        self._finished = False

    def __enter__(self) -> Self:
        """Raises `ScopeBusy`, `SpecError` (table and spec differ) or `ValueError` (pool too
        small)."""
        if self._pool.max_size < self.options.parallel_batches + 1:
            raise ValueError(
                f"the pool holds {self._pool.max_size} connections; a run needs "
                f"parallel_batches + 1 = {self.options.parallel_batches + 1}"
            )
        try:
            self._open()
        except BaseException:
            self._exit.close()
            raise
        return self

    def _open(self) -> None:
        self._control = self._exit.enter_context(self._pool.connection())
        self._exit.enter_context(scope_lock(self._control, self.pipeline, self.partition))
        with self._control.transaction():
            check_table_matches_spec(self._control, self.spec)
        self.checkpoint = checkpoints.start_or_resume(
            self._control,
            self.pipeline,
            self.partition,
            self.run_id,
            self.options.checkpoint_max_age,
            self.layout,
        )
        executor = self._exit.enter_context(
            ThreadPoolExecutor(
                self.options.parallel_batches, thread_name_prefix=f"sync-{self.spec.table}"
            )
        )
        self._stored_loading = executor.submit(self._load_stored_fingerprints)
        self._batches = InFlightBatches(
            executor,
            self.options.parallel_batches,
            self.result.add_batch,
            self.options.batch_wait_s,
        )
        self._staging = StagingTable(self.spec)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            wait([self._stored_loading])
            self._batches.drain(raise_errors=False)
            if not self._finished and not self._control.closed:
                self._control.rollback()
                with self._control.transaction():
                    checkpoints.set_status(self._control, self.checkpoint, "failed")
        finally:
            self._exit.close()

    def add_page(self, records: Iterable[Any], position: Position = _START) -> None:
        """Buffer one page's records; a batch is written once the buffer holds `batch_size` rows.

        `position` is where the stream stands once this page is committed. Raises the error
        of an earlier batch, if one failed.
        """
        records = list(records)
        if self._buffer and len(self._buffer) + len(records) > self.options.batch_size:
            self.flush()
        self._buffer.extend(records)
        self._buffer_position = position
        if len(self._buffer) >= self.options.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the buffered pages as one batch now, without waiting for `batch_size`."""
        if self._buffer:
            records, self._buffer = self._buffer, []
            self.write(records, self._buffer_position)

    def wait(self) -> None:
        """Block until every submitted batch has committed; raises the first batch error."""
        self._batches.drain()

    def write(self, records: list, position: Position = _START) -> None:
        """Classify, type and submit `records` as one batch, after any buffered pages.

        Raises `ValueError` for a paged position (page or cursor) in a run without a layout:
        such a checkpoint could not be resumed exactly under another page size.
        """
        if self.layout is None and position != _START:
            raise ValueError(
                f"{self.pipeline}/{self.partition}: a checkpoint position needs the run's "
                "layout (SyncRun(layout=checkpoints.listing_layout(...)))"
            )
        self._batches.collect_done()
        self.flush()
        fingerprinted = fingerprint_records(self.spec, records)
        self.result.sanitized_values += fingerprinted.sanitized
        self.result.unkeyed_rejections += len(fingerprinted.rejected) - len(
            fingerprinted.rejected_keys
        )
        stored = self._stored()
        if self.options.preload_fingerprints:
            self._seen.update(fingerprinted.records)
            self._seen.update(fingerprinted.rejected_keys)
        else:
            with self._control.transaction():
                stored.load_keys(self._control, list(fingerprinted.records))
        batch = prepare_batch(self.spec, classify(fingerprinted, stored))
        stored.remember(batch.staged)
        self._batches.submit(
            {c.key for c in batch.staged},
            lambda wait_for_previous: self._commit_batch(
                batch, position, len(records), wait_for_previous
            ),
        )

    def missing_keys(self) -> list[Key]:
        """The scope's live stored keys that no record written so far had (buffer included)."""
        self.flush()
        return self._stored().missing(self._seen)

    def finish(
        self,
        full_snapshot: bool = False,
        force_soft_delete: bool = False,
        undecided: Collection[Key] = (),
        undecided_reason: str | None = None,
    ) -> SyncResult:
        """Write what is buffered, wait for every batch, then complete the checkpoint.

        `full_snapshot`: the run saw every record of its scope (all of the table when the spec
        has no scope columns), so the scope's live keys it did not see are soft-deleted in the
        same transaction, except `undecided` ones (the walk could not tell them gone from
        shifted; `undecided_reason` says why) and unless refused: at the safety threshold
        (unless `force_soft_delete`), after a resume (keys seen before it are unknown), or when
        a quarantined record had no readable key. `result.snapshot` says what happened.
        Raises `ValueError` for a full snapshot without `preload_fingerprints`, and the first
        batch error, if any.
        """
        if full_snapshot and not self.options.preload_fingerprints:
            raise ValueError(
                "a full snapshot needs preload_fingerprints=True to know the scope's live keys"
            )
        self.flush()
        self._batches.drain()
        stored = self._stored()
        with self._control.transaction():
            if full_snapshot:
                self.result.snapshot = self._soft_delete_missing(
                    stored, force_soft_delete, set(undecided), undecided_reason
                )
            self.checkpoint = checkpoints.set_status(self._control, self.checkpoint, "completed")
        self._finished = True
        self.result.checkpoint = self.checkpoint
        self._analyze_after_large_load()
        return self.result

    def _load_stored_fingerprints(self) -> StoredFingerprints:
        if not self.options.preload_fingerprints:
            return StoredFingerprints(self.spec)
        with self._control.transaction():
            return StoredFingerprints.load(self._control, self.spec, self.scope)

    def _stored(self) -> StoredFingerprints:
        """The stored fingerprints, once loaded (the control connection is free from then on)."""
        if self._stored_fingerprints is None:
            self._stored_fingerprints = self._stored_loading.result()
            self._live_before = len(self._stored_fingerprints.live_keys())
        return self._stored_fingerprints

    def _commit_batch(
        self,
        batch: PreparedBatch,
        position: Position,
        rows: int,
        wait_for_previous: Callable[[], None],
    ) -> BatchResult:
        attempt = 1
        while True:
            try:
                with self._pool.connection() as conn, conn.transaction():
                    conn.execute(
                        "SELECT set_config('lock_timeout', %s, true)",
                        (f"{round(self.options.lock_timeout_s * 1000)}ms",),
                    )
                    result = (
                        BatchResult(unchanged=batch.unchanged, duplicates=batch.duplicates)
                        if batch.writes_nothing
                        else write_batch(conn, self.spec, self._staging, self.run_id, batch)
                    )
                    wait_for_previous()
                    advanced = checkpoints.advance(conn, self.checkpoint, position, rows)
                self.checkpoint = advanced
                return result
            except DeadlockDetected:
                if attempt >= DEADLOCK_ATTEMPTS:
                    raise
                attempt += 1
            except LockNotAvailable:
                raise BatchLockTimeout(
                    f"{self.spec.table}: a batch of {rows} records waited more than "
                    f"{self.options.lock_timeout_s:g} s for row locks another writer holds "
                    "(another run writing the same rows?); rolled back, the run can be retried"
                ) from None

    def _soft_delete_missing(
        self,
        stored: StoredFingerprints,
        force: bool,
        undecided: set[Key],
        undecided_reason: str | None,
    ) -> SnapshotOutcome:
        missing = stored.missing(self._seen)
        deferred = [k for k in missing if k in undecided]
        if deferred:
            missing = [k for k in missing if k not in undecided]
        outcome = SnapshotOutcome(
            live_before=self._live_before,
            missing=len(missing),
            deferred=len(deferred),
            deferred_reason=undecided_reason if deferred else None,
        )
        unkeyed = self.result.unkeyed_rejections
        if missing and self.checkpoint.resumed and self.checkpoint.rows_done > 0:
            outcome.refused = (
                "the run resumed a checkpoint, so keys seen before the resume are unknown"
            )
        elif missing and unkeyed:
            outcome.refused = (
                f"{unkeyed} quarantined record(s) had no readable key, so the stored rows they "
                "stand for are unknown; nothing was soft-deleted"
            )
        else:
            outcome.refused = soft_delete_refusal(
                len(missing), self._live_before, self.options.soft_delete_threshold, force
            )
        if outcome.refused is None:
            outcome.soft_deleted = soft_delete_rows(self._control, self.spec, missing, self.run_id)
            stored.forget_deleted(outcome.soft_deleted)
            self.result.add_soft_deleted(outcome.soft_deleted)
        return outcome

    def _analyze_after_large_load(self) -> None:
        """Refresh the statistics the engine's next statements use (key and scope columns), after
        a run that grew the table by a tenth or more; the rest is left to autovacuum."""
        inserted = self.result.inserted
        if inserted >= ANALYZE_MIN_ROWS and inserted >= ANALYZE_TARGET_SHARE * self._live_before:
            columns = sql.SQL(", ").join(
                map(sql.Identifier, dict.fromkeys(self.spec.key + self.spec.scope))
            )
            with self._control.transaction():
                self._control.execute(
                    sql.SQL("ANALYZE {} ({})").format(self.spec.table_sql, columns)
                )
