"""The few Dagster names this project needs that Dagster 1.13 keeps in private modules.

No public API offers them: the run tags that make one run cover a range of partitions, the
`inst_data` type a custom instance storage receives, what a run launcher's health check
returns, the engine event data that records a run worker's process id, `TableMetadataSet`
(the typed `dagster/table_name`, `dagster/row_count` and `dagster/column_schema` keys), and the
reconstructable job a run needs when its steps run in other processes (the Celery executor's
workers), the pool slots table and claim status of the storage's slot claim, and the event log
table the storage's batched write of planned materializations returns ids from
(`dagster_storage.py`). Every private import lives here, so an upgrade of Dagster breaks one
module, and `test_dagster_private.py` pins what we rely on (and that no other module imports
`dagster._...`).
"""

from dagster._core.definitions.metadata.metadata_set import TableMetadataSet
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository
from dagster._core.events import EngineEventData
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.event_log.schema import ConcurrencySlotsTable, SqlEventLogStorageTable
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._serdes import ConfigurableClassData
from dagster._utils.concurrency import ConcurrencySlotStatus

__all__ = [
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "CheckRunHealthResult",
    "ConcurrencySlotStatus",
    "ConcurrencySlotsTable",
    "ConfigurableClassData",
    "EngineEventData",
    "ReconstructableJob",
    "ReconstructableRepository",
    "SqlEventLogStorageTable",
    "TableMetadataSet",
    "WorkerStatus",
]
