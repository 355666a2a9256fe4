"""Asset checks of the stores source, judged on what the run measured and what the tables hold.

Wrong data and a run where too few stores synced are errors; a store that failed alone, stale
stores and video statistics going backwards are warnings with the codes or ids in question.
The success-rate check also carries the run's result line, progress samples and pool figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from psycopg import sql
from psycopg_pool import ConnectionPool

from sync_pipeline.defs.stores.config import StoresSyncConfig
from sync_pipeline.defs.stores.partitions import registered_store_codes
from sync_pipeline.pipelines.stores import JOB_NAMES, StoreListOutcome, StoresRunOutcome

_DEFAULTS = StoresSyncConfig()

SAMPLE = 50
VIDEO_STATS = ("views", "likes")
MAX_QUARANTINE_SHARE = 0.01

STORES_CHECK_SPECS = [
    dg.AssetCheckSpec(
        "partitions_match_live_stores",
        asset="stores",
        blocking=True,
        description="the `stores` partitions are exactly the live store codes",
    ),
]


def _member_specs(job_name: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "success_rate",
            asset=job_name,
            blocking=True,
            description=f"share of the run's stores that synced, at least "
            f"{_DEFAULTS.min_success_rate:.0%} (min_success_rate); the "
            "metadata holds the run's result, progress samples and database pool figures",
        ),
        dg.AssetCheckSpec(
            "every_store_synced",
            asset=job_name,
            description="every store of the run synced; the failed ones with their reasons",
        ),
        dg.AssetCheckSpec(
            "freshness",
            asset=job_name,
            description="every live store has a successful sync within "
            f"{_DEFAULTS.freshness_hours:g} h (freshness_hours, sync_logs); the stale ones listed",
        ),
        dg.AssetCheckSpec(
            "reconciliation",
            asset=job_name,
            blocking=True,
            description="for every store that synced, live rows equal the records received "
            "less the quarantined ones",
        ),
        dg.AssetCheckSpec(
            "quarantine_share",
            asset=job_name,
            blocking=True,
            description="records quarantined per record received over the run's stores: any is a "
            "warning, more than 1% an error; the stores that quarantined listed",
        ),
        dg.AssetCheckSpec(
            "no_duplicates",
            asset=job_name,
            blocking=True,
            description="no id is live in two stores",
        ),
    ]


MEMBER_CHECK_SPECS = [spec for job_name in JOB_NAMES for spec in _member_specs(job_name)] + [
    dg.AssetCheckSpec(
        "video_stats_never_decrease",
        asset="store_videos",
        description="no video's views or likes went down in this run (the table still follows "
        "the upstream); the ids that did are listed",
    ),
]


def stores_checks(
    instance: dg.DagsterInstance, outcome: StoreListOutcome, pool: ConnectionPool
) -> list[dg.AssetCheckResult]:
    registered = set(registered_store_codes(instance))
    live = set(outcome.live_codes)
    return [
        _result(
            "partitions_match_live_stores",
            "stores",
            registered == live,
            dg.AssetCheckSeverity.ERROR,
            {
                "live_stores": len(live),
                "partitions": len(registered),
                "missing_partitions": dg.MetadataValue.json(sorted(live - registered)[:SAMPLE]),
                "stale_partitions": dg.MetadataValue.json(sorted(registered - live)[:SAMPLE]),
            },
        )
    ]


def member_checks(
    outcome: StoresRunOutcome, config: StoresSyncConfig, pool: ConnectionPool, run_id: str
) -> list[dg.AssetCheckResult]:
    results: list[dg.AssetCheckResult] = []
    for job_name in outcome.job_names:
        results += [
            success_rate_check(outcome, job_name, config.min_success_rate),
            every_store_check(outcome, job_name),
            freshness_check(pool, job_name, config.freshness_hours),
            reconciliation_check(outcome, job_name, pool),
            quarantine_share_check(outcome, job_name),
            duplicates_check(pool, job_name),
        ]
    if "store_videos" in outcome.job_names:
        results.append(video_stats_check(pool, run_id))
    return results


def failed_codes(outcome: StoresRunOutcome, job_name: str) -> dict[str, str]:
    return {o.code: o.reason or "" for o in outcome.for_job(job_name) if not o.ok}


def success_rate_check(
    outcome: StoresRunOutcome, job_name: str, minimum: float
) -> dg.AssetCheckResult:
    stores = len(outcome.codes)
    ok = stores - len(failed_codes(outcome, job_name))
    rate = ok / stores if stores else 1.0
    last = outcome.progress[-1] if outcome.progress else {}
    db_pool = last.get("db_pool", {})
    return _result(
        "success_rate",
        job_name,
        rate >= minimum,
        dg.AssetCheckSeverity.ERROR,
        {
            "success_rate": float(rate),
            "target_min": float(minimum),
            "stores_ok": ok,
            "stores": stores,
            "result": outcome.summary()[:500],
            "elapsed_s": float(outcome.elapsed_s),
            "requests": outcome.http.get("requests", 0),
            "http_429": outcome.http.get("http_429", 0),
            "db_pool_size": db_pool.get("size", 0),
            "db_pool_in_use": db_pool.get("in_use", 0),
            "db_pool_waiting": db_pool.get("waiting", 0),
            "concurrency": dg.MetadataValue.json(outcome.concurrency.get(job_name, {})),
            "progress": dg.MetadataValue.json(outcome.progress),
        },
    )


def every_store_check(outcome: StoresRunOutcome, job_name: str) -> dg.AssetCheckResult:
    failed = failed_codes(outcome, job_name)
    sample = dict(list(failed.items())[:SAMPLE])
    return _result(
        "every_store_synced",
        job_name,
        not failed,
        dg.AssetCheckSeverity.WARN,
        {"failed_stores": len(failed), "failed": dg.MetadataValue.json(sample)},
    )


def freshness_check(pool: ConnectionPool, job_name: str, hours: float) -> dg.AssetCheckResult:
    with pool.connection() as conn:
        stale = [
            code
            for (code,) in conn.execute(
                "SELECT s.code FROM stores s WHERE s.deleted_at IS NULL AND NOT EXISTS ("
                " SELECT 1 FROM sync_logs l WHERE l.store_code = s.code AND l.job_name = %s"
                " AND l.status = 'success' AND l.run_time > now() - make_interval(secs => %s))"
                " ORDER BY s.code",
                (job_name, hours * 3600),
            )
        ]
    return _result(
        "freshness",
        job_name,
        not stale,
        dg.AssetCheckSeverity.WARN,
        {
            "stale_stores": len(stale),
            "max_age_h": float(hours),
            "stale": dg.MetadataValue.json(stale[:SAMPLE]),
        },
    )


def live_rows_by_store(pool: ConnectionPool, job_name: str, codes: Sequence[str]) -> dict[str, int]:
    query = sql.SQL(
        "SELECT store_code, count(*) FROM {} WHERE deleted_at IS NULL AND store_code = ANY(%s) "
        "GROUP BY store_code"
    ).format(sql.Identifier(job_name))
    with pool.connection() as conn:
        return dict(conn.execute(query, (list(codes),)).fetchall())


def reconciliation_check(
    outcome: StoresRunOutcome, job_name: str, pool: ConnectionPool
) -> dg.AssetCheckResult:
    synced = [o for o in outcome.for_job(job_name) if o.ok]
    live = live_rows_by_store(pool, job_name, [o.code for o in synced])
    expected = {o.code: o.records - o.result.quarantined - o.result.duplicates for o in synced}
    wrong = {
        code: [live.get(code, 0), want]
        for code, want in expected.items()
        if live.get(code, 0) != want
    }
    return _result(
        "reconciliation",
        job_name,
        not wrong,
        dg.AssetCheckSeverity.ERROR,
        {
            "stores_checked": len(synced),
            "live_rows": sum(live.values()),
            "target": sum(expected.values()),
            "mismatched_stores": dg.MetadataValue.json(dict(list(wrong.items())[:SAMPLE])),
        },
    )


def quarantine_share_check(outcome: StoresRunOutcome, job_name: str) -> dg.AssetCheckResult:
    """As for cars: quarantined records per record received, any a warning, over 1% an error."""
    synced = [o for o in outcome.for_job(job_name) if o.ok]
    received = sum(o.records for o in synced)
    by_store = {o.code: o.result.quarantined for o in synced if o.result.quarantined}
    quarantined = sum(by_store.values())
    share = quarantined / received if received else 0.0
    too_many = share > MAX_QUARANTINE_SHARE
    return _result(
        "quarantine_share",
        job_name,
        quarantined == 0,
        dg.AssetCheckSeverity.ERROR if too_many else dg.AssetCheckSeverity.WARN,
        {
            "quarantine_share": float(share),
            "quarantined": quarantined,
            "records_received": received,
            "target_max_error_share": MAX_QUARANTINE_SHARE,
            "stores": dg.MetadataValue.json(dict(list(by_store.items())[:SAMPLE])),
        },
    )


def duplicates_check(pool: ConnectionPool, job_name: str) -> dg.AssetCheckResult:
    """Ids are stable and unique across stores upstream: one live in two stores is wrong."""
    query = sql.SQL(
        "SELECT count(id) - count(DISTINCT id) FROM {} WHERE deleted_at IS NULL"
    ).format(sql.Identifier(job_name))
    with pool.connection() as conn:
        duplicates = conn.execute(query).fetchone()[0]
    return _result(
        "no_duplicates",
        job_name,
        duplicates == 0,
        dg.AssetCheckSeverity.ERROR,
        {"duplicate_ids": duplicates, "target": 0},
    )


def video_stats_check(pool: ConnectionPool, run_id: str) -> dg.AssetCheckResult:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT record_key, column_name, old_value, new_value FROM sync_change_log "
            "WHERE run_id = %s AND entity = 'store_videos' AND column_name = ANY(%s) "
            "AND jsonb_typeof(old_value) = 'number' AND jsonb_typeof(new_value) = 'number' "
            "AND new_value::numeric < old_value::numeric ORDER BY record_key, column_name",
            (run_id, list(VIDEO_STATS)),
        ).fetchall()
    decreases = [
        {"video": key, "field": field, "from": old, "to": new} for key, field, old, new in rows
    ]
    return _result(
        "video_stats_never_decrease",
        "store_videos",
        not decreases,
        dg.AssetCheckSeverity.WARN,
        {
            "decreases": len(decreases),
            "videos": len({d["video"] for d in decreases}),
            "sample": dg.MetadataValue.json(decreases[:SAMPLE]),
        },
    )


def _result(
    name: str, asset: str, passed: bool, severity: dg.AssetCheckSeverity, metadata: dict
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name, asset_key=asset, passed=bool(passed), severity=severity, metadata=metadata
    )
