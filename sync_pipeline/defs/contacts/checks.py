"""Asset checks of a contacts run, judged from what the run received and what the table holds.

Error rate judges the fetch (`contacts_snapshot`), reconciliation and the quarantine share the
table (`contacts`); each check's definition shows its target. Error rate and reconciliation are
blocking: a failure fails the run. The quarantine share warns
for any quarantined contact and fails the run above 1% of those received. Failing checks carry
the measured values and the target in their metadata.
"""

from __future__ import annotations

import dagster as dg

from sync_pipeline.defs.contacts.config import ContactsSyncConfig
from sync_pipeline.pipelines.contacts import WorkspaceOutcome

MAX_QUARANTINE_SHARE = 0.01
MAX_ERROR_RATE = ContactsSyncConfig().max_error_rate

CHECK_ASSETS = {"error_rate": "contacts_snapshot"}

CONTACTS_CHECK_SPECS = [
    dg.AssetCheckSpec(
        "error_rate",
        asset="contacts_snapshot",
        blocking=True,
        description=f"failed attempts per request at most {MAX_ERROR_RATE} (max_error_rate); ERROR",
        metadata={"target_max_error_rate": MAX_ERROR_RATE},
    ),
    dg.AssetCheckSpec(
        "reconciliation",
        asset="contacts",
        blocking=True,
        description="every contact received is stored, unchanged or quarantined; "
        "after a full refresh each workspace's live rows equal what it served",
    ),
    dg.AssetCheckSpec(
        "quarantine_share",
        asset="contacts",
        blocking=True,
        description=f"quarantined per received contact: WARN above 0, ERROR above "
        f"{MAX_QUARANTINE_SHARE:.0%}",
        metadata={"target_max_error_share": MAX_QUARANTINE_SHARE},
    ),
]


def evaluate_contacts_checks(
    outcomes: list[WorkspaceOutcome], http: dict, max_error_rate: float
) -> list[dg.AssetCheckResult]:
    return [
        error_rate_check(http, max_error_rate),
        reconciliation_check(outcomes),
        quarantine_share_check(outcomes),
    ]


def error_rate_check(http: dict, max_error_rate: float) -> dg.AssetCheckResult:
    requests = http.get("requests", 0)
    errors = sum(v for k, v in http.items() if k.startswith("errors_"))
    rate = errors / max(requests, 1)
    return _result(
        "error_rate",
        rate <= max_error_rate,
        {
            "error_rate": rate,
            "target_max_error_rate": max_error_rate,
            "requests": requests,
            "retries": http.get("retries", 0),
        },
    )


def reconciliation_check(outcomes: list[WorkspaceOutcome]) -> dg.AssetCheckResult:
    """Per workspace: received == inserted + updated + unchanged + quarantined + duplicates;
    after a full refresh (not resumed, not refused), live rows == received - quarantined."""
    unaccounted: dict[str, int] = {}
    live_mismatch: dict[str, int] = {}
    for o in outcomes:
        r = o.result
        handled = r.inserted + r.updated + r.unchanged + r.quarantined + r.duplicates
        if not o.resumed and handled != o.records:
            unaccounted[o.workspace_id] = o.records - handled
        refused = r.snapshot is not None and r.snapshot.refused
        if (
            o.full_refresh
            and not o.resumed
            and (refused or o.live_rows != o.records - r.quarantined)
        ):
            live_mismatch[o.workspace_id] = o.live_rows - (o.records - r.quarantined)
    return _result(
        "reconciliation",
        not unaccounted and not live_mismatch,
        {
            "workspaces": len(outcomes),
            "records_received": sum(o.records for o in outcomes),
            "unaccounted": dg.MetadataValue.json(unaccounted),
            "live_rows_minus_expected": dg.MetadataValue.json(live_mismatch),
        },
    )


def quarantine_share_check(outcomes: list[WorkspaceOutcome]) -> dg.AssetCheckResult:
    """Contacts PostgreSQL could not hold (a wrong type, say) per contact received: any is a
    warning, more than 1% an error. They are kept with their reason, never dropped silently."""
    received = sum(o.records for o in outcomes)
    by_workspace = {o.workspace_id: o.result.quarantined for o in outcomes if o.result.quarantined}
    quarantined = sum(by_workspace.values())
    share = quarantined / max(received, 1)
    too_many = share > MAX_QUARANTINE_SHARE
    return _result(
        "quarantine_share",
        quarantined == 0,
        {
            "quarantine_share": share,
            "quarantined": quarantined,
            "records_received": received,
            "quarantined_by_workspace": dg.MetadataValue.json(by_workspace),
            "target_max_error_share": MAX_QUARANTINE_SHARE,
        },
        dg.AssetCheckSeverity.ERROR if too_many else dg.AssetCheckSeverity.WARN,
    )


def _result(
    name: str,
    passed: bool,
    metadata: dict,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=CHECK_ASSETS.get(name, "contacts"),
        passed=bool(passed),
        severity=severity,
        metadata={k: float(v) if isinstance(v, float) else v for k, v in metadata.items()},
    )
