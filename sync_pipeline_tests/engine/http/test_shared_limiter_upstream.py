"""Two OS processes sharing one API key and its limit: the upstream's own count proves the limit held."""

from __future__ import annotations

import multiprocessing
import time
import uuid

from sync_pipeline.upstream.auth import token_label
from sync_pipeline_tests.engine.http.workers import fetch_cars_for

TOKEN = "shared-key-token-1"


def test_two_processes_on_one_key_never_exceed_the_limit_together(own_upstream, db_url):
    own_upstream.admin("faults", {"source": "cars", "profile": "none", "rps": 20, "burst": 20})
    key = f"cars:test-{uuid.uuid4().hex[:8]}"
    start_at = time.monotonic() + 3.0
    args = (own_upstream.url, TOKEN, db_url.conninfo(), key, 20.0, 0.1, 3.0, start_at)
    try:
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            results = [pool.apply_async(fetch_cars_for, args) for _ in range(2)]
            first, second = (r.get(timeout=60) for r in results)
        stats = own_upstream.admin("stats")["limit_groups"]["cars"]["tokens"][token_label(TOKEN)]
    finally:
        own_upstream.admin("faults", {"source": "cars", "profile": "none"})
    # each process alone would send 18/s; unshared they would reach about 36 in a second
    assert first["requests"] > 10 and second["requests"] > 10
    assert stats["requests"] == first["requests"] + second["requests"]
    assert stats["max_requests_in_1s"] <= 20
    assert stats["throttled"] == first["http_429"] + second["http_429"] == 0
