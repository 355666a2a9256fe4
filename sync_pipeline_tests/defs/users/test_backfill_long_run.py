"""A backfill run longer than the pool's idle-in-transaction timeout completes: it holds its
scope lock for the whole run, but no transaction (the server would end the session)."""

import asyncio

from sync_pipeline.db.pool import open_pool
from sync_pipeline.engine.http import ApiClient, ClientConfig
from sync_pipeline.pipelines.users.backfill import BackfillSettings, backfill_details
from sync_pipeline_tests.defs.users.conftest import pending, stored_users, tick

IDLE_IN_TRANSACTION_S = 1.0
RUN_SIZE = 8
DETAIL_RPS = 3.0  # 8 details at 3/s: about 2.7 s, well past the 1 s timeout


def test_a_backfill_run_outlasting_the_idle_in_transaction_timeout_completes(
    users_env, db_url, instance
):
    tick(instance, None)  # bootstraps the empty table: every detail queued for the backfill
    config = ClientConfig(users_env.url, name="users.detail", rps=DETAIL_RPS, concurrency=2)

    async def backfill():
        async with ApiClient(config) as client:
            return await backfill_details(
                pool, client, "backfill-long", BackfillSettings(run_size=RUN_SIZE, write_batch=4)
            )

    with open_pool(db_url, max_size=6, idle_in_transaction_s=IDLE_IN_TRANSACTION_S) as pool:
        outcome = asyncio.run(backfill())
    assert outcome.apply.elapsed_s > 2 * IDLE_IN_TRANSACTION_S
    assert outcome.apply.fetched == RUN_SIZE
    filled = [u for u in stored_users(db_url).values() if u["detail_synced_at"] is not None]
    assert len(filled) == RUN_SIZE
    assert len(pending(db_url)) == len(stored_users(db_url)) - RUN_SIZE
