"""One dynamic partition per store code, registered and retired by the `stores` asset.

Partitions keep the order they were registered in, and a single-run backfill runs one range of
them per run (Dagster cannot run a non-contiguous selection in one run): the `stores` asset
registers new stores grouped by region, so a region's stores, as first registered, are one
range to select in the UI. A store that opens later is appended at the end.
"""

from collections.abc import Sequence

import dagster as dg

STORES_PARTITIONS_NAME = "stores"

stores_partitions = dg.DynamicPartitionsDefinition(name=STORES_PARTITIONS_NAME)


def registered_store_codes(instance: dg.DagsterInstance) -> list[str]:
    return list(instance.get_dynamic_partitions(STORES_PARTITIONS_NAME))


def register_store_partitions(
    instance: dg.DagsterInstance, live_codes: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Make the partitions exactly `live_codes`: add the new ones (in order), delete the ones
    no longer live. Returns (added, retired)."""
    registered = registered_store_codes(instance)
    known, live = set(registered), set(live_codes)
    added = [code for code in live_codes if code not in known]
    retired = [code for code in registered if code not in live]
    if added:
        instance.add_dynamic_partitions(STORES_PARTITIONS_NAME, added)
    for code in retired:
        instance.delete_dynamic_partition(STORES_PARTITIONS_NAME, code)
    return added, retired
