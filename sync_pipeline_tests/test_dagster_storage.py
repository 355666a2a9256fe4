"""The instance storage's pool slots: a pool limited to 1 lets one step at a time claim its slot,
even when two runs' steps claim at the same moment (two backfills launched together); and
processes setting a new pool's limit at the same moment (workers starting together) all succeed."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from sync_pipeline.instance import persistent_instance

TRIALS = 50
CLAIMERS = 4


def test_steps_claiming_a_one_slot_pool_at_once_get_one_slot(db_url):
    with persistent_instance(db_url) as instance:
        storage = instance.event_log_storage
        pool = f"race_{uuid.uuid4().hex[:8]}"
        storage.set_concurrency_slots(pool, 1)
        try:
            claimed_per_trial = [_claim_together(storage, pool) for _ in range(TRIALS)]
            info = storage.get_concurrency_info(pool)
        finally:
            storage.delete_concurrency_limit(pool)
    assert max(claimed_per_trial) == 1, f"claims per trial: {claimed_per_trial}"
    assert info.slot_count == 1


def _claim_together(storage, pool: str) -> int:
    """Let CLAIMERS steps of different runs claim at once; free them; return how many got in."""
    run_ids = [uuid.uuid4().hex for _ in range(CLAIMERS)]
    barrier = threading.Barrier(CLAIMERS)

    def claim(run_id: str) -> bool:
        barrier.wait()
        return storage.claim_concurrency_slot(pool, run_id, "sync").is_claimed

    with ThreadPoolExecutor(CLAIMERS) as threads:
        claimed = list(threads.map(claim, run_ids))
    for run_id in run_ids:
        storage.free_concurrency_slots_for_run(run_id)
    return sum(claimed)


def test_processes_setting_a_new_pools_limit_at_once_all_succeed(db_url):
    with persistent_instance(db_url) as instance:
        storage = instance.event_log_storage
        pools = [f"new_{uuid.uuid4().hex[:8]}" for _ in range(TRIALS // 5)]
        try:
            for pool in pools:
                barrier = threading.Barrier(CLAIMERS)

                def set_limit(limit: int, pool: str = pool, barrier=barrier) -> None:
                    barrier.wait()
                    storage.set_concurrency_slots(pool, limit)

                with ThreadPoolExecutor(CLAIMERS) as threads:
                    list(threads.map(set_limit, [8] * CLAIMERS))
            limits = {pool.name: pool.limit for pool in storage.get_pool_limits()}
        finally:
            for pool in pools:
                storage.delete_concurrency_limit(pool)
    assert all(limits.get(pool) == 8 for pool in pools)
