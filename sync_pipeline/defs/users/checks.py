"""Asset checks of a users run, from what the run measured and what the tables hold.

- `error_rate` (blocking): failed attempts per request, list and detail together;
- `detail_throughput`: detail requests/s against the limit. Concurrent worker runs share the
  limit, so the target is `min_detail_rate_share` of the limit divided by the users runs in
  progress; runs with fewer than `throughput_min_requests` requests are not judged (warm-up
  and the last answer's latency dominate them);
- `lag`: age of the oldest change the detector found that is not stored yet (quarantined ones
  excluded: they wait for a new version, not for a run);
- `no_active_and_deleted` (blocking): no user is both `status = 'active'` and soft-deleted.

A failing check carries its measured value and its target in the metadata.
"""

from dataclasses import dataclass

import dagster as dg
from psycopg_pool import ConnectionPool

from sync_pipeline.defs.users.config import UsersSyncConfig

USERS_CHECK_SPECS = [
    dg.AssetCheckSpec("error_rate", asset="users", blocking=True,
                      description="failed attempts per request (list and detail) below the target"),
    dg.AssetCheckSpec("detail_throughput", asset="users",
                      description="detail requests/s close to the limit (shared among concurrent worker runs)"),
    dg.AssetCheckSpec("lag", asset="users",
                      description="oldest detected change not yet applied, younger than the target"),
    dg.AssetCheckSpec("no_active_and_deleted", asset="users", blocking=True,
                      description="no user is both status 'active' and soft-deleted"),
]
_LAG = ("SELECT count(*), coalesce(extract(epoch FROM now() - min(first_detected_at)), 0)::float8, "
        "coalesce(extract(epoch FROM now() - min(updated_at)), 0)::float8 "
        "FROM users_pending_changes WHERE quarantined_at IS NULL")


@dataclass(frozen=True)
class RunFigures:
    """What a run measured, for the checks."""

    requests: int
    failed_attempts: int
    detail_requests: int
    detail_rps: float
    detail_limit_rps: float
    concurrent_runs: int


def evaluate_users_checks(figures: RunFigures, config: UsersSyncConfig, pool: ConnectionPool,
                          selected: set[str]) -> list[dg.AssetCheckResult]:
    checks = {"error_rate": lambda: error_rate_check(figures, config),
              "detail_throughput": lambda: throughput_check(figures, config),
              "lag": lambda: lag_check(pool, config),
              "no_active_and_deleted": lambda: active_and_deleted_check(pool)}
    return [evaluate() for name, evaluate in checks.items() if name in selected]


def error_rate_check(figures: RunFigures, config: UsersSyncConfig) -> dg.AssetCheckResult:
    rate = figures.failed_attempts / max(figures.requests, 1)
    return _result("error_rate", rate < config.max_error_rate, dg.AssetCheckSeverity.ERROR, {
        "error_rate": rate, "target_max_error_rate": config.max_error_rate,
        "requests": figures.requests, "failed_attempts": figures.failed_attempts})


def throughput_check(figures: RunFigures, config: UsersSyncConfig) -> dg.AssetCheckResult:
    share_of_limit = figures.detail_limit_rps / max(figures.concurrent_runs, 1)
    target = config.min_detail_rate_share * share_of_limit
    judged = figures.detail_requests >= config.throughput_min_requests
    return _result("detail_throughput", not judged or figures.detail_rps >= target, dg.AssetCheckSeverity.WARN, {
        "detail_rps": figures.detail_rps, "target_min_detail_rps": target,
        "detail_limit_rps": figures.detail_limit_rps, "concurrent_worker_runs": figures.concurrent_runs,
        "detail_requests": figures.detail_requests,
        "judged": "yes" if judged else f"no: {figures.detail_requests} requests, fewer than "
                                       f"{config.throughput_min_requests}"})


def lag_check(pool: ConnectionPool, config: UsersSyncConfig) -> dg.AssetCheckResult:
    with pool.connection() as conn:
        pending, detected_age_s, change_age_s = conn.execute(_LAG).fetchone()
    return _result("lag", detected_age_s <= config.max_lag_s, dg.AssetCheckSeverity.WARN, {
        "oldest_pending_s": detected_age_s, "target_max_lag_s": config.max_lag_s, "pending_changes": pending,
        "oldest_pending_change_age_s": change_age_s})


def active_and_deleted_check(pool: ConnectionPool) -> dg.AssetCheckResult:
    with pool.connection() as conn:
        both = conn.execute("SELECT count(*) FROM users WHERE status = 'active' AND deleted_at IS NOT NULL"
                            ).fetchone()[0]
    return _result("no_active_and_deleted", both == 0, dg.AssetCheckSeverity.ERROR,
                   {"active_and_deleted": both, "target": 0})


def _result(name: str, passed: bool, severity: dg.AssetCheckSeverity, metadata: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(check_name=name, asset_key="users", passed=bool(passed), severity=severity,
                               metadata={k: float(v) if isinstance(v, float) else v for k, v in metadata.items()})
