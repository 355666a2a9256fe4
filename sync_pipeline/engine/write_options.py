"""How a sync run batches its writes: `WriteOptions`, with defaults and environment overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sync_pipeline.engine.checkpoints import DEFAULT_MAX_AGE
from sync_pipeline.engine.soft_delete import DEFAULT_SOFT_DELETE_THRESHOLD
from sync_pipeline.errors import ConfigError
from sync_pipeline.settings import positive_int_env

DEFAULT_BATCH_SIZE = 5000
DEFAULT_PARALLEL_BATCHES = 2


@dataclass(frozen=True)
class WriteOptions:
    """Batching and safety settings of a `SyncRun`.

    - `batch_size`: rows per transaction (a batch holds whole pages, so a page larger than
      this makes a batch of its own);
    - `parallel_batches`: batches in flight at once, each on its own pooled connection
      (they commit in order, so the checkpoint only ever moves forward);
    - `soft_delete_threshold`: a full snapshot soft-deletes its missing keys only when they
      are fewer than this share of the scope's live rows (unless forced);
    - `checkpoint_max_age`: an unfinished checkpoint older than this is not resumed;
    - `lock_timeout_s`: a batch that waits longer than this for a row lock fails (with
      `BatchLockTimeout`) instead of waiting on: two runs writing the same rows can wait on each
      other through their in-order commits, a cycle PostgreSQL cannot see as a deadlock;
    - `batch_wait_s`: how long a batch, its writes done, waits for the batch before it to commit
      before it fails (`BatchWaitTimeout`);
    - `preload_fingerprints`: load the stored fingerprints of the whole scope once (fast for
      full syncs, required for a full snapshot); False loads them per batch for its keys
      only (for small incremental syncs of big tables).
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    parallel_batches: int = DEFAULT_PARALLEL_BATCHES
    soft_delete_threshold: float = DEFAULT_SOFT_DELETE_THRESHOLD
    checkpoint_max_age: timedelta = DEFAULT_MAX_AGE
    preload_fingerprints: bool = True
    lock_timeout_s: float = 30.0
    batch_wait_s: float = 180.0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.parallel_batches < 1:
            raise ConfigError(
                f"batch_size and parallel_batches must be at least 1, got "
                f"{self.batch_size} and {self.parallel_batches}"
            )
        if self.lock_timeout_s <= 0 or self.batch_wait_s <= 0:
            raise ConfigError(
                f"lock_timeout_s and batch_wait_s must be positive, got {self.lock_timeout_s} and "
                f"{self.batch_wait_s}"
            )
        if not 0 < self.soft_delete_threshold <= 1:
            raise ConfigError(
                f"soft_delete_threshold must be in (0, 1], got {self.soft_delete_threshold}"
            )

    @classmethod
    def from_env(cls) -> WriteOptions:
        """Defaults overridden by `BATCH_SIZE` and `PARALLEL_BATCHES`; raises `ConfigError`."""
        return cls(
            batch_size=positive_int_env("BATCH_SIZE", DEFAULT_BATCH_SIZE),
            parallel_batches=positive_int_env("PARALLEL_BATCHES", DEFAULT_PARALLEL_BATCHES),
        )
