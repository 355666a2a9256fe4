"""`/_admin/mutate`: change an exact share of the records of one kind and say which.

Kinds: `cars`, `users`, `stores`, `store_users`, `store_videos`, `contacts` and `pvp` (the
characters on the boards). `update`, `touch` and `delete` are shares of the current records
(count = round(share * n)) drawn without overlap; `insert` is a count of new records (or, below
1, a share). Every changed or touched record gets the same fresh `updated_at`, later than any
before it. The choice of records depends on (seed, number of earlier mutations) only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from sync_pipeline.errors import ConfigError
from sync_pipeline.upstream.clock import MutationClock, iso_from_ms
from sync_pipeline.upstream.data import cars, contacts, stores, users
from sync_pipeline.upstream.data.dataset import Dataset
from sync_pipeline.upstream.data.pvp_mutate import mutate_pvp
from sync_pipeline.upstream.data.rng import increasing_ids, stream
from sync_pipeline.upstream.data.table import RecordTable, Row, to_blob

Record = dict[str, Any]


@dataclass(frozen=True)
class MutationRequest:
    source: str
    update: float = 0.0
    touch: float = 0.0
    delete: float = 0.0
    insert: float = 0.0

    def counts(self, total: int) -> tuple[int, int, int, int]:
        """(update, touch, delete, insert) as record counts; raises ConfigError when impossible."""
        for name in ("update", "touch", "delete"):
            share = getattr(self, name)
            if not 0 <= share <= 1:
                raise ConfigError(f"{name} must be a share between 0 and 1, got {share}")
        if self.insert < 0:
            raise ConfigError(f"insert must not be negative, got {self.insert}")
        update, touch, delete = (
            round(share * total) for share in (self.update, self.touch, self.delete)
        )
        if update + touch + delete > total:
            raise ConfigError(
                f"update + touch + delete ask for {update + touch + delete} of {total} records"
            )
        insert = round(self.insert * total) if 0 < self.insert < 1 else int(self.insert)
        return update, touch, delete, insert


@dataclass(frozen=True)
class TableKind:
    """How to mutate one kind of record kept in a `RecordTable`."""

    table: str
    update: Callable[[Record, np.random.Generator, int], None]
    touch: Callable[[Record, np.random.Generator, int], None]
    to_row: Callable[[Record, int], Row]
    create: Callable[[Dataset, np.random.Generator, int, int], list[Record]]


def mutate(dataset: Dataset, request: MutationRequest, clock: MutationClock) -> dict[str, Any]:
    """Apply the request to `dataset` (in place) and answer the ids per kind of change."""
    rng = stream(dataset.seed, f"mutate:{request.source}:{dataset.mutations}")
    stamp_ms = clock.next_ms()
    if request.source == "pvp":
        changed = mutate_pvp(dataset, request, rng, stamp_ms)
    elif request.source in TABLE_KINDS:
        changed = _mutate_table(dataset, TABLE_KINDS[request.source], request, rng, stamp_ms)
    else:
        raise ConfigError(
            f"unknown source {request.source!r}; expected one of {', '.join(MUTABLE_SOURCES)}"
        )
    dataset.mutations += 1
    return {"source": request.source, **changed, "updated_at": iso_from_ms(stamp_ms)}


def _mutate_table(
    dataset: Dataset,
    kind: TableKind,
    request: MutationRequest,
    rng: np.random.Generator,
    stamp_ms: int,
) -> dict[str, list[Any]]:
    table: RecordTable = getattr(dataset, kind.table)
    n_update, n_touch, n_delete, n_insert = request.counts(len(table))
    chosen = rng.permutation(len(table))[: n_update + n_touch + n_delete].tolist()
    rows: list[Row | None] = list(table.rows())
    changed: dict[str, list[Any]] = {"updated": [], "touched": [], "deleted": [], "inserted": []}
    for label, positions, change in (
        ("updated", chosen[:n_update], kind.update),
        ("touched", chosen[n_update : n_update + n_touch], kind.touch),
    ):
        for position in sorted(positions):
            record = orjson.loads(rows[position].detail or rows[position].blob)
            change(record, rng, stamp_ms)
            rows[position] = kind.to_row(record, stamp_ms)
            changed[label].append(public_id(rows[position].key))
    for position in sorted(chosen[n_update + n_touch :]):
        changed["deleted"].append(public_id(rows[position].key))
        rows[position] = None
    for record in kind.create(dataset, rng, n_insert, stamp_ms) if n_insert else []:
        rows.append(kind.to_row(record, stamp_ms))
        changed["inserted"].append(public_id(rows[-1].key))
    setattr(dataset, kind.table, RecordTable.from_rows([row for row in rows if row is not None]))
    return changed


def public_id(key: Any) -> Any:
    """The id a client sees: the last part of a grouped key such as (store_code, id)."""
    return key[-1] if isinstance(key, tuple) else key


def _next_ids(dataset: Dataset, kind: str, rng: np.random.Generator, count: int) -> np.ndarray:
    """Ids above any this kind ever had, even if the record holding the highest was deleted."""
    table: RecordTable = getattr(dataset, kind)
    last = max([dataset.highest_issued.get(kind, 0), *(public_id(key) for key in table.keys)])
    ids = increasing_ids(rng, int(last), count)
    dataset.highest_issued[kind] = int(ids[-1]) if count else last
    return ids


def _create_cars(
    dataset: Dataset, rng: np.random.Generator, count: int, stamp_ms: int
) -> list[Record]:
    return cars.new_cars(rng, _next_ids(dataset, "cars", rng, count), dataset.dealers, stamp_ms)


def _create_users(
    dataset: Dataset, rng: np.random.Generator, count: int, stamp_ms: int
) -> list[Record]:
    return users.new_users(rng, _next_ids(dataset, "users", rng, count), stamp_ms)


def _create_stores(
    dataset: Dataset, rng: np.random.Generator, count: int, stamp_ms: int
) -> list[Record]:
    numbers = [
        dataset.highest_issued.get("stores", 0),
        *(int(code.rsplit("-", 1)[-1]) for code in dataset.stores.keys),
    ]
    created = stores.new_stores(rng, max(numbers) + 1, count, stamp_ms)
    dataset.highest_issued["stores"] = max(
        [max(numbers), *(int(s["code"].rsplit("-", 1)[-1]) for s in created)]
    )
    return created


def _store_for_each(dataset: Dataset, rng: np.random.Generator, count: int) -> list[Record]:
    if len(dataset.stores) == 0:
        raise ConfigError("there are no stores to add records to")
    positions = rng.integers(0, len(dataset.stores), count).tolist()
    return [orjson.loads(dataset.stores.blobs[p]) for p in positions]


def _create_store_users(
    dataset: Dataset, rng: np.random.Generator, count: int, stamp_ms: int
) -> list[Record]:
    ids = _next_ids(dataset, "store_users", rng, count)
    return [
        user
        for store, user_id in zip(_store_for_each(dataset, rng, count), ids.tolist())
        for user in stores.new_store_users(rng, store["code"], np.array([user_id]), stamp_ms)
    ]


def _create_videos(
    dataset: Dataset, rng: np.random.Generator, count: int, stamp_ms: int
) -> list[Record]:
    ids = _next_ids(dataset, "videos", rng, count)
    return [
        video
        for store, video_id in zip(_store_for_each(dataset, rng, count), ids.tolist())
        for video in stores.new_videos(rng, store, np.array([video_id]), stamp_ms)
    ]


def _create_contacts(
    dataset: Dataset, rng: np.random.Generator, count: int, stamp_ms: int
) -> list[Record]:
    workspace_ids = dataset.workspace_ids()
    chosen = [workspace_ids[i] for i in rng.integers(0, len(workspace_ids), count).tolist()]
    return contacts.new_contacts(rng, chosen, stamp_ms)


TABLE_KINDS: dict[str, TableKind] = {
    "cars": TableKind(
        "cars",
        cars.update_car,
        cars.touch_car,
        lambda r, ms: Row(r["id"], to_blob(r), ms),
        _create_cars,
    ),
    "users": TableKind("users", users.update_user, users.touch_user, users.user_row, _create_users),
    "stores": TableKind(
        "stores",
        stores.update_store,
        stores.touch,
        lambda r, ms: Row(r["code"], to_blob(r), ms),
        _create_stores,
    ),
    "store_users": TableKind(
        "store_users",
        stores.update_store_user,
        stores.touch,
        lambda r, ms: Row((r["store_code"], r["id"]), to_blob(r), ms),
        _create_store_users,
    ),
    "store_videos": TableKind(
        "videos",
        stores.update_video,
        stores.touch,
        lambda r, ms: Row((r["store_code"], r["id"]), to_blob(r), ms),
        _create_videos,
    ),
    "contacts": TableKind(
        "contacts",
        contacts.update_contact,
        contacts.touch_contact,
        lambda r, ms: Row((r["workspace_id"], r["id"]), to_blob(r), ms),
        _create_contacts,
    ),
}
MUTABLE_SOURCES = (*TABLE_KINDS, "pvp")


def delete_user(dataset: Dataset, user_id: int) -> bool:
    """Remove one user (the hostile "deleted between list and detail"); False if already gone."""
    if dataset.users.position(user_id) is None:
        return False
    dataset.users = RecordTable.from_rows(
        [row for row in dataset.users.rows() if row.key != user_id], presorted=True
    )
    return True
