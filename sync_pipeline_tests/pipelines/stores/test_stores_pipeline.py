"""The stores pipeline against the real reference upstream and a real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from sync_pipeline_tests.pipelines.stores.conftest import (
    FAST,
    STORE_COUNT,
    run_stores,
    upstream_records,
)

MEMBER_COLUMNS = {
    "store_users": (
        "store_code",
        "id",
        "handle",
        "display_name",
        "role",
        "followers",
        "joined_at",
    ),
    "store_videos": (
        "store_code",
        "id",
        "title",
        "duration_s",
        "views",
        "likes",
        "comments",
        "shares",
        "published_at",
    ),
}


def upstream_rows(upstream, codes: list[str], kind: str, columns: tuple[str, ...]) -> set[tuple]:
    rows = set()
    for code in codes:
        for record in upstream_records(upstream, f"/stores/{code}/{kind}"):
            rows.add(tuple(record[c] for c in columns))
    return rows


def test_first_sync_equals_upstream_and_an_unchanged_resync_writes_nothing(
    pool, db, stores_upstream
):
    listed, first = run_stores(pool, stores_upstream, "run-1")
    codes = [s["code"] for s in upstream_records(stores_upstream, "/stores")]
    assert listed.live_codes == sorted(codes) and first.stores_ok == STORE_COUNT
    for job, kind in (("store_users", "users"), ("store_videos", "videos")):
        stored = db.execute(
            f"SELECT count(*), count(DISTINCT (store_code, id)) FROM {job}"
        ).fetchone()
        expected = upstream_rows(stores_upstream, codes, kind, ("store_code", "id"))
        assert stored == (len(expected), len(expected))
        assert set(db.execute(f"SELECT store_code, id FROM {job}").fetchall()) == expected
        assert first.totals(job)["inserted"] == len(expected)
    video = upstream_records(stores_upstream, f"/stores/{codes[0]}/videos")[0]
    row = db.execute(
        "SELECT title, views, likes, duration_s FROM store_videos "
        "WHERE store_code = %s AND id = %s",
        (codes[0], video["id"]),
    ).fetchone()
    assert row == (video["title"], video["views"], video["likes"], video["duration_s"])

    log_before = db.execute("SELECT count(*) FROM sync_change_log").fetchone()[0]
    synced_before = db.execute("SELECT max(synced_at) FROM store_videos").fetchone()[0]
    _, again = run_stores(pool, stores_upstream, "run-2")
    for job in ("store_users", "store_videos"):
        totals = again.totals(job)
        assert totals["inserted"] + totals["updated"] + totals["soft_deleted"] == 0
        assert totals["unchanged"] == first.totals(job)["inserted"]
    assert db.execute("SELECT count(*) FROM sync_change_log").fetchone()[0] == log_before
    assert db.execute("SELECT max(synced_at) FROM store_videos").fetchone()[0] == synced_before


def test_sync_logs_hold_every_store_and_the_run_row_last(pool, db, stores_upstream):
    _, outcome = run_stores(pool, stores_upstream, "run-logs")
    rows = db.execute(
        "SELECT job_name, store_code, status, rows FROM sync_logs WHERE run_id = 'run-logs' "
        "ORDER BY id"
    ).fetchall()
    assert len(rows) == 2 * STORE_COUNT + 1
    assert rows[-1][:3] == ("stores_sync", None, "success") and rows[-1][3] == outcome.records
    assert {(job, code) for job, code, _, _ in rows[:-1]} == {
        (job, code) for job in ("store_users", "store_videos") for code in outcome.codes
    }
    assert {status for _, _, status, _ in rows} == {"success"}
    assert f"{STORE_COUNT} of {STORE_COUNT} stores synced" in outcome.summary()
    assert outcome.progress and outcome.progress[-1]["processed"] == STORE_COUNT
    assert outcome.progress[-1]["db_pool"]["size"] == pool.max_size


def test_expired_token_store_fails_alone_with_its_reason_in_sync_logs(pool, db, stores_upstream):
    codes = [s["code"] for s in upstream_records(stores_upstream, "/stores")]
    expired = codes[2]
    stores_upstream.admin("faults", {"source": "stores", "expired_stores": [expired]})
    _, outcome = run_stores(pool, stores_upstream, "run-expired")
    assert list(outcome.failed_stores) == [expired]
    assert "store_token_expired" in outcome.failed_stores[expired]
    assert outcome.stores_ok == STORE_COUNT - 1
    assert f"{STORE_COUNT - 1} of {STORE_COUNT} stores synced" in outcome.summary()
    failed = db.execute(
        "SELECT job_name, status, message FROM sync_logs WHERE store_code = %s ORDER BY job_name",
        (expired,),
    ).fetchall()
    assert [(job, status) for job, status, _ in failed] == [
        ("store_users", "failed"),
        ("store_videos", "failed"),
    ]
    assert all(
        "store_token_expired" in message and "HTTP 403" in message for _, _, message in failed
    )
    assert (
        db.execute("SELECT count(*) FROM store_users WHERE store_code = %s", (expired,)).fetchone()[
            0
        ]
        == 0
    )
    loaded = db.execute("SELECT count(DISTINCT store_code) FROM store_videos").fetchone()[0]
    assert loaded == STORE_COUNT - 1
    run_row = db.execute(
        "SELECT status, message FROM sync_logs WHERE run_id = 'run-expired' AND store_code IS NULL"
    ).fetchone()
    assert run_row[0] == "partial" and expired in run_row[1]


def test_one_store_resynced_alone(pool, db, stores_upstream):
    run_stores(pool, stores_upstream, "run-all")
    changed = stores_upstream.admin("mutate", {"source": "store_videos", "update": 0.05})["updated"]
    code = db.execute(
        "SELECT store_code FROM store_videos WHERE id = %s", (changed[0],)
    ).fetchone()[0]
    expected = {
        vid
        for vid in changed
        if db.execute(
            "SELECT 1 FROM store_videos WHERE store_code = %s AND id = %s", (code, vid)
        ).fetchone()
    }
    _, alone = run_stores(pool, stores_upstream, "run-one", codes=[code])
    assert alone.codes == [code] and alone.stores_ok == 1
    videos = alone.for_job("store_videos")[0]
    assert {
        key[1] for key in videos.result.updated_keys
    } == expected and videos.result.inserted == 0
    touched = db.execute(
        "SELECT DISTINCT store_code FROM store_videos WHERE last_run_id = 'run-one'"
    ).fetchall()
    assert touched == [(code,)]
    logged = db.execute(
        "SELECT DISTINCT store_code FROM sync_logs WHERE run_id = 'run-one'"
    ).fetchall()
    assert set(logged) == {(code,), (None,)}


def test_store_deleted_upstream_is_retired_and_its_rows_soft_deleted(pool, db, upstream_factory):
    from sync_pipeline_tests.pipelines.stores.conftest import SMALL_SIZES

    upstream = upstream_factory(sizes={**SMALL_SIZES, "stores": 24})
    run_stores(
        pool,
        upstream,
        "run-before",
        settings=replace(FAST, users_concurrency=8, videos_concurrency=8),
    )
    gone = upstream.admin("mutate", {"source": "stores", "delete": 1 / 24})["deleted"]
    assert len(gone) == 1
    listed, outcome = run_stores(
        pool,
        upstream,
        "run-after",
        settings=replace(FAST, users_concurrency=8, videos_concurrency=8),
    )
    assert (
        listed.retired_codes == gone
        and gone[0] not in listed.live_codes
        and gone[0] not in outcome.codes
    )
    assert db.execute(
        "SELECT deleted_at IS NOT NULL FROM stores WHERE code = %s", (gone[0],)
    ).fetchone() == (True,)
    for table in ("store_users", "store_videos"):
        live, deleted = db.execute(
            f"SELECT count(*) FILTER (WHERE deleted_at IS NULL), "
            f"count(*) FILTER (WHERE deleted_at IS NOT NULL) "
            f"FROM {table} WHERE store_code = %s",
            (gone[0],),
        ).fetchone()
        assert live == 0 and deleted > 100
        others = db.execute(
            f"SELECT count(*) FROM {table} WHERE store_code <> %s AND deleted_at IS NOT NULL",
            (gone[0],),
        ).fetchone()[0]
        assert others == 0
    assert (
        sum(listed.retired_rows.values())
        == db.execute(
            "SELECT count(*) FROM sync_change_log "
            "WHERE run_id = 'run-after' AND column_name = 'deleted_at' "
            "AND entity IN ('store_users', 'store_videos')"
        ).fetchone()[0]
    )


def test_a_store_retried_with_another_page_size_neither_skips_nor_repeats_records(
    pool, db, stores_upstream
):
    code = upstream_records(stores_upstream, "/stores")[0]["code"]
    _, first = run_stores(pool, stores_upstream, "run-7", replace(FAST, page_size=7), codes=[code])
    assert first.stores_ok == 1
    db.execute(
        "UPDATE sync_checkpoints SET status = 'failed' WHERE partition = %s", (code,)
    )  # as a run that failed after its batch committed leaves it: resumable

    _, retry = run_stores(
        pool, stores_upstream, "run-13", replace(FAST, page_size=13), codes=[code]
    )
    for job, kind in (("store_users", "users"), ("store_videos", "videos")):
        (outcome,) = retry.for_job(job)
        expected = upstream_rows(stores_upstream, [code], kind, ("store_code", "id"))
        assert outcome.records == len(expected) > 13, "the whole store, in several pages"
        assert (outcome.result.inserted, outcome.result.unchanged) == (0, len(expected))
        resumed = outcome.result.checkpoint
        assert resumed.resumed and resumed.note.startswith("checkpoint at page ")
        assert set(db.execute(f"SELECT store_code, id FROM {job}").fetchall()) == expected
        layout, status = db.execute(
            "SELECT layout, status FROM sync_checkpoints WHERE pipeline = %s AND partition = %s",
            (job, code),
        ).fetchone()
        assert (layout["page_size"], status) == (13, "completed")
