"""The stores source (upstream-api.md section 3) without Dagster.

    outcome = await sync_store_list(pool, client, run_id)                 # `stores`, retirements
    result = await sync_stores(pool, client, outcome.live_codes, run_id)  # users + videos per store
    print(result.summary())  # "298 of 300 stores synced"

`store_list` (the list, retiring vanished stores) -> `fan_out` (many stores at once under one
limit) -> `members` (one store's users or videos) -> `sync_logs`. The client is one `ApiClient`
for the whole stores API (its limit is per app), with `settings.requests_in_flight` in flight.
"""

from sync_pipeline.pipelines.stores.fan_out import (
    JOB_NAMES,
    StoresRunOutcome,
    store_groups,
    sync_stores,
)
from sync_pipeline.pipelines.stores.members import StoreOutcome
from sync_pipeline.pipelines.stores.settings import StoresSyncSettings
from sync_pipeline.pipelines.stores.store_list import StoreListOutcome, sync_store_list

__all__ = [
    "JOB_NAMES",
    "StoreListOutcome",
    "StoreOutcome",
    "StoresRunOutcome",
    "StoresSyncSettings",
    "store_groups",
    "sync_store_list",
    "sync_stores",
]
