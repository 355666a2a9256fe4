"""stores in `sync-pipeline demo`: the store list, one store's token expired on the embedded
upstream, every store in one run: that store fails alone and says why, the others load."""

from __future__ import annotations

import dagster as dg

from sync_pipeline.demo import QUICK_SIZES, stores_demo
from sync_pipeline_tests.defs.stores.conftest import SMALL_SIZES

STORE_COUNT = QUICK_SIZES["stores"]  # `demo --quick`'s: one expired store leaves 95%


def test_the_demo_syncs_every_store_and_the_expired_one_fails_alone(
    stores_env, upstream_factory, db, instance, capsys
):
    upstream = stores_env(upstream_factory(sizes={**SMALL_SIZES, "stores": STORE_COUNT}))
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        code = stores_demo(instance, upstream)
    printed = capsys.readouterr().out
    assert code == 0, printed
    runs = instance.get_runs()
    assert len(runs) == 2 and all(r.is_success for r in runs), "the list, then one run of all"
    assert f"result: {STORE_COUNT - 1} of {STORE_COUNT} stores" in printed
    failed = db.execute(
        "SELECT DISTINCT store_code FROM sync_logs WHERE status = 'failed'"
    ).fetchall()
    assert len(failed) == 1 and f"store_users of {failed[0][0]} failed: store_token_expired" in (
        printed
    )
    loaded = db.execute(
        "SELECT count(DISTINCT store_code) FROM store_videos WHERE deleted_at IS NULL"
    ).fetchone()[0]
    assert loaded == STORE_COUNT - 1
