"""Four OS processes sharing one API key and its limit: the upstream's own count proves the limit
held."""

from __future__ import annotations

import multiprocessing
import time
import uuid

from sync_pipeline.upstream.auth import token_label
from sync_pipeline_tests.engine.http.workers import fetch_cars_for
from sync_pipeline_tests.secret_scan import TEST_TOKENS

TOKEN = TEST_TOKENS["shared_key"]
PROCESSES = 4


def test_four_processes_on_one_key_never_exceed_the_limit_together(own_upstream, db_url):
    own_upstream.admin("faults", {"source": "cars", "profile": "none", "rps": 20, "burst": 20})
    key = f"cars:test-{uuid.uuid4().hex[:8]}"
    start_at = time.monotonic() + 6.0  # every spawned process imported
    args = (own_upstream.url, TOKEN, db_url.conninfo(), key, 20.0, 0.1, 3.0, start_at)
    try:
        with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
            results = [pool.apply_async(fetch_cars_for, args) for _ in range(PROCESSES)]
            counts = [r.get(timeout=90) for r in results]
            pool.close()  # the workers exit on their own; no signal needed to stop them
            pool.join()
        stats = own_upstream.admin("stats")["limit_groups"]["cars"]["tokens"][token_label(TOKEN)]
    finally:
        own_upstream.admin("faults", {"source": "cars", "profile": "none"})
    # each process alone would send 18/s; unshared they would reach about 72 in a second
    assert all(count["requests"] > 5 for count in counts), counts
    assert stats["requests"] == sum(count["requests"] for count in counts)
    assert stats["max_requests_in_1s"] <= 20
    assert stats["throttled"] == sum(count["http_429"] for count in counts) == 0
