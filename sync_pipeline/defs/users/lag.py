"""The users lag, judged on its own schedule: the age of the oldest change the detector found
that is not stored yet (quarantined ones excluded: they wait for a new version, not for a run;
backfill items too: a detail never fetched is not a change waiting, `detail_coverage` judges
the backfill).

It is a check of its own, run every 5 minutes by `users_lag_check_schedule` (on by default) in
a run that only reads the database, so it goes on failing when the detector, the workers or
the upstream stop: exactly when a lag check inside the worker's step would go silent.
"""

import dagster as dg
from pydantic import Field

from sync_pipeline.defs.resources import PostgresResource

MAX_LAG_S = 3600.0
_LAG = (
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(first_detected_at)), 0)::float8, "
    "coalesce(extract(epoch FROM now() - min(updated_at)), 0)::float8 "
    "FROM users_pending_changes WHERE priority = 0 AND quarantined_at IS NULL"
)


class LagCheckConfig(dg.Config):
    max_lag_s: float = Field(
        default=MAX_LAG_S,
        description="Age of the oldest detected, unapplied change allowed, seconds.",
    )


@dg.asset_check(
    asset="users",
    name="lag",
    description=f"the oldest detected change not yet applied is younger than "
    f"{MAX_LAG_S / 60:.0f} min "
    "(max_lag_s); WARN. Evaluated every 5 minutes by users_lag_check_schedule, whether "
    "or not anything else runs.",
    metadata={"target_max_lag_s": MAX_LAG_S},
)
def users_lag(config: LagCheckConfig, postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        pending, detected_age_s, change_age_s = conn.execute(_LAG).fetchone()
    return dg.AssetCheckResult(
        passed=bool(detected_age_s <= config.max_lag_s),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "oldest_pending_s": float(detected_age_s),
            "target_max_lag_s": float(config.max_lag_s),
            "pending_changes": int(pending),
            "oldest_pending_change_age_s": float(change_age_s),
        },
    )


users_lag_check_job = dg.define_asset_job(
    "users_lag_check_job",
    selection=dg.AssetSelection.checks(users_lag),
    description="Evaluate the users lag check (reads the database only).",
)

users_lag_check_schedule = dg.ScheduleDefinition(
    name="users_lag_check_schedule",
    job=users_lag_check_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes: judge the users lag, even when the detector and workers stopped.",
)
