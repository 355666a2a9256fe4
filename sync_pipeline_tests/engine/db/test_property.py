"""Random sequences of insert/update/touch/delete/revive snapshots leave the table equal to a model,
whether the snapshot's pages come sorted by key or not."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_pipeline.engine.write_options import WriteOptions
from sync_pipeline_tests.engine.db.runs import change_log, sync, table_rows
from sync_pipeline_tests.engine.db.tables import ITEMS

BUSINESS = ("name", "qty", "price", "tags")
OPTIONS = WriteOptions(batch_size=12, parallel_batches=2, soft_delete_threshold=0.2)


def make(key: int, version: int, seen: int = 0) -> dict:
    return {
        "id": key,
        "shop": "s",
        "name": f"n{key}.{version}",
        "qty": version % 5,
        "price": f"{version}.25",
        "tags": {"v": [version % 3]},
        "seen_at": f"2026-01-01T00:00:{seen % 60:02d}Z",
    }


class Model:
    """Upstream (what the API serves now) and the table as it must be after each snapshot."""

    def __init__(self) -> None:
        self.upstream: dict[int, dict] = {}
        self.stored: dict[int, dict] = {}
        self.deleted: set[int] = set()
        self.next_key = 1

    def expect(self) -> dict:
        live = {k for k in self.stored if k not in self.deleted}
        missing = sorted(live - set(self.upstream))
        refused = bool(missing) and len(missing) / len(live) >= OPTIONS.soft_delete_threshold
        inserted = sorted(k for k in self.upstream if k not in self.stored)
        updated = sorted(
            k
            for k in self.upstream
            if k in self.stored
            and (
                k in self.deleted or any(self.upstream[k][f] != self.stored[k][f] for f in BUSINESS)
            )
        )
        diffs = sorted(
            (str(k), f)
            for k in updated
            for f in BUSINESS
            if self.upstream[k][f] != self.stored[k][f]
        )
        diffs += sorted((str(k), "deleted_at") for k in updated if k in self.deleted)
        for k in inserted + updated:
            self.stored[k] = dict(self.upstream[k])
            self.deleted.discard(k)
        if not refused:
            self.deleted.update(missing)
            diffs += [(str(k), "deleted_at") for k in missing]
        return {
            "inserted": inserted,
            "updated": updated,
            "deleted": [] if refused else missing,
            "diffs": sorted(diffs),
        }


step = st.fixed_dictionaries(
    {
        "insert": st.integers(0, 25),
        "update": st.floats(0, 0.5),
        "touch": st.floats(0, 0.5),
        "delete": st.floats(0, 0.4),
        "revive": st.floats(0, 1),
        "seed": st.integers(0, 2**16),
        "unsorted": st.booleans(),
    }
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, min_size=2, max_size=5))
def test_random_snapshots_match_the_model(tables, pool, steps):
    tables.execute("TRUNCATE items, sync_change_log, sync_checkpoints, sync_quarantine")
    model = Model()
    for number, change in enumerate(steps):
        apply(model, change, number)
        expected = model.expect()
        logged_before = len(change_log(tables))
        pages = [model.upstream[k] for k in sorted(model.upstream)]
        if change["unsorted"]:
            random.Random(change["seed"]).shuffle(pages)
        result = sync(pool, ITEMS, pages, options=OPTIONS, page_size=5)
        assert sorted(result.inserted_keys) == expected["inserted"]
        assert sorted(result.updated_keys) == expected["updated"]
        assert sorted(result.soft_deleted_keys) == expected["deleted"]
        assert result.unchanged == len(model.upstream) - len(expected["inserted"]) - len(
            expected["updated"]
        )
        assert (
            sorted((k, c) for k, c, _, _ in change_log(tables)[logged_before:]) == expected["diffs"]
        )
        assert_table_matches(tables, model)


def apply(model: Model, change: dict, number: int) -> None:
    rng = random.Random(change["seed"])
    keys = sorted(model.upstream)
    for key in rng.sample(keys, int(len(keys) * change["update"])):
        model.upstream[key] = make(key, rng.randrange(1000), seen=number)
    for key in rng.sample(keys, int(len(keys) * change["touch"])):
        model.upstream[key] = dict(model.upstream[key], seen_at=f"2026-02-01T00:00:{number:02d}Z")
    for key in rng.sample(keys, int(len(keys) * change["delete"])):
        del model.upstream[key]
    gone = sorted(model.deleted)
    for key in rng.sample(gone, int(len(gone) * change["revive"])):
        same = rng.random() < 0.5
        model.upstream[key] = (
            dict(model.stored[key]) if same else make(key, rng.randrange(3), seen=number)
        )
    for _ in range(change["insert"]):
        model.upstream[model.next_key] = make(model.next_key, 0, seen=number)
        model.next_key += 1


def assert_table_matches(conn, model: Model) -> None:
    rows = {r["id"]: r for r in table_rows(conn, "items")}
    assert set(rows) == set(model.stored)
    for key, record in model.stored.items():
        row = rows[key]
        assert (row["deleted_at"] is not None) == (key in model.deleted)
        assert (row["name"], row["qty"], row["price"], row["tags"]) == (
            record["name"],
            record["qty"],
            Decimal(record["price"]),
            record["tags"],
        )
