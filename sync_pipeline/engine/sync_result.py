"""What a sync run did: counts per outcome and the keys that changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync_pipeline.engine.batch import BatchResult
from sync_pipeline.engine.checkpoints import Checkpoint
from sync_pipeline.engine.records import Key
from sync_pipeline.engine.soft_delete import SnapshotOutcome


@dataclass
class SyncResult:
    """Counts and keys of one run.

    - `inserted`: keys the table did not have; `updated`: stored rows rewritten because their
      fingerprint changed, including soft-deleted rows revived by reappearing;
    - `unchanged`: records identical to the stored row (nothing written, nothing locked);
    - `soft_deleted`: live keys a full snapshot no longer had; `quarantined`: records that
      could not be typed (see `sync_quarantine`); `duplicates`: extra copies of a key in one
      batch (the last one counts); `diffs_logged`: change-log rows of updated rows;
    - `sanitized_values`: string values loaded with their NUL characters stripped;
      `unkeyed_rejections`: quarantined records whose key could not be read.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    soft_deleted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    diffs_logged: int = 0
    batches: int = 0
    sanitized_values: int = 0
    unkeyed_rejections: int = 0
    inserted_keys: list[Key] = field(default_factory=list)
    updated_keys: list[Key] = field(default_factory=list)
    soft_deleted_keys: list[Key] = field(default_factory=list)
    snapshot: SnapshotOutcome | None = None
    checkpoint: Checkpoint | None = None

    @property
    def changed_keys(self) -> list[Key]:
        """Every key whose row this run inserted, updated or soft-deleted."""
        return self.inserted_keys + self.updated_keys + self.soft_deleted_keys

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.soft_deleted

    def add_batch(self, batch: BatchResult) -> None:
        self.batches += 1
        self.inserted += len(batch.inserted)
        self.updated += len(batch.updated)
        self.unchanged += batch.unchanged
        self.quarantined += batch.quarantined
        self.duplicates += batch.duplicates
        self.diffs_logged += batch.diffs_logged
        self.inserted_keys.extend(batch.inserted)
        self.updated_keys.extend(batch.updated)

    def add_soft_deleted(self, keys: list[Key]) -> None:
        self.soft_deleted += len(keys)
        self.soft_deleted_keys.extend(keys)
