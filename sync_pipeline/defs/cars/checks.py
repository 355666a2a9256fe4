"""Asset checks of a cars run, evaluated from what the run measured and what the table holds.

Failing checks carry the measured value and the target in their metadata. Error rate,
reconciliation and duplicates are blocking (a failure fails the run); throughput and runtime
are warnings, since a slow upstream is not wrong data.
"""

from __future__ import annotations

import dagster as dg
from psycopg_pool import ConnectionPool

from sync_pipeline.defs.cars.config import CarsSyncConfig
from sync_pipeline.pipelines.cars import CarsSyncOutcome

WARMUP_PAGES = 5

CARS_CHECK_SPECS = [
    dg.AssetCheckSpec("throughput", asset="cars", description="pages/s and rows/s after warm-up against the configured targets"),
    dg.AssetCheckSpec("error_rate", asset="cars", blocking=True, description="failed attempts per request below the target"),
    dg.AssetCheckSpec("reconciliation", asset="cars", blocking=True,
                      description="full refresh: live rows equal the upstream total; window: every upstream record received"),
    dg.AssetCheckSpec("no_duplicates", asset="cars", blocking=True, description="no live id or vin appears twice"),
    dg.AssetCheckSpec("runtime_budget", asset="cars", description="the run finished within its time budget"),
]


def evaluate_cars_checks(outcome: CarsSyncOutcome, config: CarsSyncConfig, pool: ConnectionPool) -> list[dg.AssetCheckResult]:
    return [throughput_check(outcome, config), error_rate_check(outcome, config), reconciliation_check(outcome),
            duplicates_check(pool), runtime_check(outcome, config)]


def throughput_check(outcome: CarsSyncOutcome, config: CarsSyncConfig) -> dg.AssetCheckResult:
    pages_per_s, rows_per_s = outcome.warm_rates
    judged = outcome.walk.pages > WARMUP_PAGES
    passed = not judged or (pages_per_s >= config.min_pages_per_s and rows_per_s >= config.min_rows_per_s)
    return _result("throughput", passed, dg.AssetCheckSeverity.WARN, {
        "pages_per_s": pages_per_s, "target_pages_per_s": config.min_pages_per_s,
        "rows_per_s": rows_per_s, "target_rows_per_s": config.min_rows_per_s,
        "pages": outcome.walk.pages,
        "judged": judged if judged else f"no: {outcome.walk.pages} pages, within the {WARMUP_PAGES}-page warm-up",
    })


def error_rate_check(outcome: CarsSyncOutcome, config: CarsSyncConfig) -> dg.AssetCheckResult:
    rate = outcome.error_rate
    return _result("error_rate", rate < config.max_error_rate, dg.AssetCheckSeverity.ERROR, {
        "error_rate": rate, "target_max_error_rate": config.max_error_rate,
        "requests": outcome.http.get("requests", 0), "retries": outcome.http.get("retries", 0),
    })


def reconciliation_check(outcome: CarsSyncOutcome) -> dg.AssetCheckResult:
    """Full refresh: live rows == upstream total. Window: at least as many distinct records as
    the window held from the (resumed) start page on (more when records moved in meanwhile)."""
    total = outcome.walk.upstream_total
    if outcome.scope.is_full_refresh:
        measured, expected, label = outcome.live_rows, total, "live_rows"
    else:
        skipped = (outcome.walk.start_page - 1) * outcome.page_size
        measured = outcome.walk.records
        expected, label = None if total is None else max(total - skipped, 0), "records_received"
    passed = expected is not None and (measured == expected if outcome.scope.is_full_refresh else measured >= expected)
    return _result("reconciliation", passed, dg.AssetCheckSeverity.ERROR, {
        label: measured, "target": expected if expected is not None else -1,
        "upstream_total": total if total is not None else -1, "quarantined": outcome.result.quarantined,
        "resumed_from_page": outcome.resumed_from_page or 0,
    })


def duplicates_check(pool: ConnectionPool) -> dg.AssetCheckResult:
    with pool.connection() as conn:
        ids, vins = conn.execute(
            "SELECT count(*) - count(DISTINCT id), count(vin) - count(DISTINCT vin) FROM cars WHERE deleted_at IS NULL"
        ).fetchone()
    return _result("no_duplicates", ids == 0 and vins == 0, dg.AssetCheckSeverity.ERROR,
                   {"duplicate_ids": ids, "duplicate_vins": vins, "target": 0})


def runtime_check(outcome: CarsSyncOutcome, config: CarsSyncConfig) -> dg.AssetCheckResult:
    return _result("runtime_budget", outcome.elapsed_s <= config.runtime_budget_s, dg.AssetCheckSeverity.WARN,
                   {"elapsed_s": outcome.elapsed_s, "target_max_s": config.runtime_budget_s})


def _result(name: str, passed: bool, severity: dg.AssetCheckSeverity, metadata: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, asset_key="cars", passed=bool(passed), severity=severity,
                               metadata={k: float(v) if isinstance(v, float) else v for k, v in metadata.items()})
