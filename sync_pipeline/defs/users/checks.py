"""Asset checks of a users run, from what the run measured and what the tables hold.

- `error_rate` (blocking): failed attempts per request, list and detail together;
- `detail_throughput`: detail requests/s against the limit. Concurrent worker runs share the
  limit, so the target is `min_detail_rate_share` of the limit divided by the users runs in
  progress; runs with fewer than `throughput_min_requests` requests are not judged (warm-up
  and the last answer's latency dominate them);
- the lag check is not here: it is evaluated on its own schedule (`lag.py`);
- `detail_coverage`: complete / live users, the queue by priority and its ETA at the detail
  limit; passes when complete, or when the queue empties within `max_backfill_eta_h`.

A failing check carries its measured value and its target in the metadata. Error rate and
throughput judge the fetch (`users_snapshot`), coverage the table (`users`).
"""

from dataclasses import dataclass

import dagster as dg
from psycopg_pool import ConnectionPool

from sync_pipeline.defs.users.config import UsersSyncConfig
from sync_pipeline.defs.users.metadata import coverage_metadata
from sync_pipeline.pipelines.users.coverage import read_coverage

CHECK_ASSETS = {"error_rate": "users_snapshot", "detail_throughput": "users_snapshot"}
_DEFAULTS = UsersSyncConfig()

USERS_CHECK_SPECS = [
    dg.AssetCheckSpec(
        "error_rate",
        asset="users_snapshot",
        blocking=True,
        description=f"failed attempts per request (list and detail) at most "
        f"{_DEFAULTS.max_error_rate} (max_error_rate); ERROR",
        metadata={"target_max_error_rate": _DEFAULTS.max_error_rate},
    ),
    dg.AssetCheckSpec(
        "detail_throughput",
        asset="users_snapshot",
        description=f"detail requests/s at least {_DEFAULTS.min_detail_rate_share:.0%} of the "
        "limit, shared among concurrent worker runs (min_detail_rate_share); WARN",
        metadata={"target_min_share_of_limit": _DEFAULTS.min_detail_rate_share},
    ),
    dg.AssetCheckSpec(
        "detail_coverage",
        asset="users",
        description=f"every live user has its detail, or the queue empties within "
        f"{_DEFAULTS.max_backfill_eta_h:g} h at the current detail limit "
        "(max_backfill_eta_h); WARN",
        metadata={"target_max_backfill_eta_h": _DEFAULTS.max_backfill_eta_h},
    ),
]


@dataclass(frozen=True)
class RunFigures:
    """What a run measured, for the checks."""

    requests: int
    failed_attempts: int
    detail_requests: int
    detail_rps: float
    detail_limit_rps: float
    concurrent_runs: int
    detail_pace_rps: float = 0.0
    """The rate the detail client keeps: the limit less its headroom (0: take the limit)."""

    @property
    def eta_rps(self) -> float:
        """The rate an ETA divides by: the pace the client keeps under the limit."""
        return self.detail_pace_rps or self.detail_limit_rps


def evaluate_users_checks(
    figures: RunFigures, config: UsersSyncConfig, pool: ConnectionPool, selected: set[str]
) -> list[dg.AssetCheckResult]:
    checks = {
        "error_rate": lambda: error_rate_check(figures, config),
        "detail_throughput": lambda: throughput_check(figures, config),
        "detail_coverage": lambda: coverage_check(pool, figures, config),
    }
    return [evaluate() for name, evaluate in checks.items() if name in selected]


def error_rate_check(figures: RunFigures, config: UsersSyncConfig) -> dg.AssetCheckResult:
    rate = figures.failed_attempts / max(figures.requests, 1)
    return _result(
        "error_rate",
        rate <= config.max_error_rate,
        dg.AssetCheckSeverity.ERROR,
        {
            "error_rate": rate,
            "target_max_error_rate": config.max_error_rate,
            "requests": figures.requests,
            "failed_attempts": figures.failed_attempts,
        },
    )


def throughput_check(figures: RunFigures, config: UsersSyncConfig) -> dg.AssetCheckResult:
    share_of_limit = figures.detail_limit_rps / max(figures.concurrent_runs, 1)
    target = config.min_detail_rate_share * share_of_limit
    judged = figures.detail_requests >= config.throughput_min_requests
    return _result(
        "detail_throughput",
        not judged or figures.detail_rps >= target,
        dg.AssetCheckSeverity.WARN,
        {
            "detail_rps": figures.detail_rps,
            "target_min_detail_rps": target,
            "detail_limit_rps": figures.detail_limit_rps,
            "concurrent_worker_runs": figures.concurrent_runs,
            "detail_requests": figures.detail_requests,
            "judged": "yes"
            if judged
            else f"no: {figures.detail_requests} requests, fewer than "
            f"{config.throughput_min_requests}",
        },
    )


def coverage_check(
    pool: ConnectionPool, figures: RunFigures, config: UsersSyncConfig
) -> dg.AssetCheckResult:
    """Passes when every live user has its detail, or when the queue (fresh changes and backfill
    items) empties within `max_backfill_eta_h` at the pace the detail limit allows."""
    with pool.connection() as conn:
        coverage = read_coverage(conn)
    eta = coverage.eta_s(figures.eta_rps)
    passed = coverage.complete >= coverage.live or (
        eta is not None and eta <= 3600 * config.max_backfill_eta_h
    )
    return _result(
        "detail_coverage",
        passed,
        dg.AssetCheckSeverity.WARN,
        {
            **coverage_metadata(coverage, figures.eta_rps),
            "target_max_backfill_eta_h": config.max_backfill_eta_h,
            "summary": coverage.describe(figures.eta_rps),
        },
    )


def _result(
    name: str, passed: bool, severity: dg.AssetCheckSeverity, metadata: dict
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=CHECK_ASSETS.get(name, "users"),
        passed=bool(passed),
        severity=severity,
        metadata={k: float(v) if isinstance(v, float) else v for k, v in metadata.items()},
    )
