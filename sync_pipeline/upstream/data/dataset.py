"""`Dataset`: every record the reference upstream serves, generated from (seed, sizes)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sync_pipeline.upstream.data.cars import dealer_count, generate_dealers, iter_car_chunks
from sync_pipeline.upstream.data.contacts import generate_contacts, generate_workspaces
from sync_pipeline.upstream.data.pvp import PvpData, generate_pvp
from sync_pipeline.upstream.data.stores import generate_stores
from sync_pipeline.upstream.data.table import RecordTable, to_blob
from sync_pipeline.upstream.data.users import generate_users
from sync_pipeline.upstream.sizes import DataSizes


@dataclass
class Dataset:
    seed: int
    sizes: DataSizes
    cars: RecordTable
    dealers: list[dict[str, Any]]
    users: RecordTable
    stores: RecordTable
    store_users: RecordTable
    videos: RecordTable
    pvp: PvpData
    workspaces: list[dict[str, str]]
    contacts: RecordTable
    generation_s: float = 0.0
    mutations: int = 0
    highest_issued: dict[str, int] = field(
        default_factory=dict
    )  # per kind: ids are never handed out twice

    def workspace_ids(self) -> list[str]:
        return [w["id"] for w in self.workspaces]

    def counts(self) -> dict[str, int]:
        return {
            "cars": len(self.cars),
            "users": len(self.users),
            "stores": len(self.stores),
            "store_users": len(self.store_users),
            "store_videos": len(self.videos),
            "pvp_characters": len(
                {cid for board in self.pvp.boards.values() for cid, *_ in board.entries}
            ),
            "workspaces": len(self.workspaces),
            "contacts": len(self.contacts),
        }


def build_dataset(seed: int, sizes: DataSizes) -> Dataset:
    """Generate everything; the same (seed, sizes) always gives byte-identical records."""
    started = time.perf_counter()
    with _collector_paused():
        workspaces = generate_workspaces(seed, sizes.workspaces)
        stores, store_users, videos = generate_stores(seed, sizes.stores)
        dataset = Dataset(
            seed=seed,
            sizes=sizes,
            cars=generate_car_table(seed, sizes.cars),
            dealers=generate_dealers(seed, dealer_count(sizes.cars)),
            users=generate_users(seed, sizes.users),
            stores=stores,
            store_users=store_users,
            videos=videos,
            pvp=generate_pvp(seed, sizes.leaderboard_entries),
            workspaces=workspaces,
            contacts=generate_contacts(seed, workspaces, sizes.contacts),
        )
    dataset.generation_s = time.perf_counter() - started
    return dataset


def generate_car_table(seed: int, count: int) -> RecordTable:
    keys: list[int] = []
    blobs: list[bytes] = []
    stamps: list[int] = []
    for chunk, updated_ms in iter_car_chunks(seed, count):
        keys += [car["id"] for car in chunk]
        blobs += [to_blob(car) for car in chunk]
        stamps += updated_ms.tolist()
    return RecordTable(keys=keys, blobs=blobs, updated_ms=np.asarray(stamps, dtype=np.int64))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Generation allocates millions of objects that all survive; the cyclic collector would
    rescan them again and again (3x slower) for nothing. Afterwards they are frozen out of it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()
        if was_enabled:
            gc.enable()
