"""Materialization metadata of a users run: what was listed, what changed, what was stored."""

from typing import Any

import dagster as dg

from sync_pipeline.defs.asset_metadata import known
from sync_pipeline.pipelines.users.apply import ApplyOutcome
from sync_pipeline.pipelines.users.backfill import BackfillOutcome
from sync_pipeline.pipelines.users.bootstrap import BootstrapOutcome
from sync_pipeline.pipelines.users.coverage import Coverage
from sync_pipeline.pipelines.users.reconcile import ReconcileOutcome

IDS_SAMPLE = 50


def snapshot_metadata(
    reconcile: ReconcileOutcome | None,
    requested_ids: list[int],
    backfill: BackfillOutcome | None = None,
) -> dict[str, Any]:
    """`users_snapshot`: the listing a reconcile walked, or the ids a worker run was given."""
    if backfill is not None:
        return {"mode": "backfill", "ids_requested": backfill.apply.requested}
    if reconcile is None:
        return {
            "mode": "worker",
            "ids_requested": len(requested_ids),
            "ids_sample": dg.MetadataValue.json(requested_ids[:IDS_SAMPLE]),
        }
    walk = reconcile.walk
    return {
        "mode": "bootstrap" if reconcile.bootstrap else "reconcile",
        "scope": reconcile.scope.label,
        "window": walk.window.describe(),
        "pages": walk.pages_read,
        "users_listed": len(walk.summaries),
        "upstream_total": known(walk.total),
        "stable_walk": walk.stable,
        "rejected_summaries": walk.rejected,
        "unfingerprintable": reconcile.unfingerprintable,
        "list_elapsed_s": float(walk.elapsed_s),
    }


def changes_metadata(
    reconcile: ReconcileOutcome | None,
    requested_ids: list[int],
    backfill: BackfillOutcome | None = None,
) -> dict[str, Any]:
    """`users_changes`: how the listed users compared with the table (for a worker run: the
    detector already decided, every id given is a change; for a backfill, every id is missing
    its detail; for a bootstrap, every user listed and not stored is new)."""
    if backfill is not None:
        return {
            "mode": "backfill",
            "changed": backfill.apply.requested,
            "yielded_to_fresh_changes_s": float(backfill.yielded_s),
        }
    if reconcile is not None and reconcile.bootstrap is not None:
        b = reconcile.bootstrap
        return {
            "mode": "bootstrap",
            "changed": b.inserted,
            "already_stored": b.already_stored,
            "quarantined": b.quarantined,
        }
    if reconcile is None:
        return {
            "mode": "worker",
            "changed": len(requested_ids),
            "changed_ids_sample": dg.MetadataValue.json(requested_ids[:IDS_SAMPLE]),
        }
    counts = reconcile.classification.counts
    return {
        "mode": "reconcile",
        "changed": counts["changed"],
        "touch_only": counts["touched"],
        "unchanged": counts["unchanged"],
        "missing_from_list": reconcile.missing,
        "changed_ids_sample": dg.MetadataValue.json(reconcile.classification.changed[:IDS_SAMPLE]),
    }


def table_metadata(
    apply: ApplyOutcome,
    detail_limit_rps: float,
    coverage: Coverage,
    bootstrap: BootstrapOutcome | None = None,
    backfill: BackfillOutcome | None = None,
    *,
    detail_pace_rps: float = 0.0,
) -> dict[str, Any]:
    """`users`: what was stored, how fast the details came, and how complete the table is (the
    ETA at `detail_pace_rps`, the pace the client keeps under the limit; 0: at the limit)."""
    w = apply.write
    eta_rps = detail_pace_rps or detail_limit_rps
    return {
        "live_rows": coverage.live,
        "ids_requested": apply.requested,
        "resumed_after": apply.resumed_after,
        "resume_note": apply.resume_note or "",
        "details_fetched": apply.fetched,
        "inserted": w.inserted + (bootstrap.inserted if bootstrap else 0),
        "updated": w.updated,
        "unchanged": w.unchanged,
        "soft_deleted": w.soft_deleted,
        "not_found": w.not_found,
        "quarantined": w.quarantined + (bootstrap.quarantined if bootstrap else 0),
        "sanitized_values": w.sanitized_values + (bootstrap.sanitized_values if bootstrap else 0),
        "pending_cleared": w.pending_cleared,
        "diffs_logged": w.diffs_logged,
        "yielded_to_fresh_changes_s": float(backfill.yielded_s) if backfill else 0.0,
        "batches": apply.batches,
        "detail_rps": float(apply.detail_rps),
        "detail_limit_rps": float(detail_limit_rps),
        "elapsed_s": float(apply.elapsed_s),
        "latency_p95_ms": float(apply.http.get("latency_p95_ms", 0.0)),
        "retries": apply.http.get("retries", 0),
        "http_429": apply.http.get("http_429", 0),
        **coverage_metadata(coverage, eta_rps),
        "summary": dg.MetadataValue.md(
            summary_markdown(apply, detail_limit_rps, coverage, bootstrap, backfill, eta_rps)
        ),
    }


def coverage_metadata(coverage: Coverage, eta_rps: float) -> dict[str, Any]:
    """Detail coverage (complete / live), the queue by priority, and its ETA at `eta_rps`."""
    eta = coverage.eta_s(eta_rps)
    return {
        "detail_coverage": float(coverage.share),
        "users_complete": coverage.complete,
        "users_total": coverage.live,
        "queue_fresh_changes": coverage.fresh_pending,
        "queue_backfill": coverage.backfill_pending,
        "backfill_eta_s": float(eta) if eta is not None else dg.MetadataValue.null(),
        "backfill_eta_h": float(eta / 3600) if eta is not None else dg.MetadataValue.null(),
        "eta_at_detail_rps": float(eta_rps),
    }


def summary_markdown(
    apply: ApplyOutcome,
    detail_limit_rps: float,
    coverage: Coverage,
    bootstrap: BootstrapOutcome | None = None,
    backfill: BackfillOutcome | None = None,
    eta_rps: float = 0.0,
) -> str:
    w = apply.write
    if bootstrap is not None:
        head = (
            f"**users**: bootstrap from the list, {bootstrap.inserted:,} users stored in "
            f"{bootstrap.elapsed_s:.1f} s with their detail queued for the background backfill"
        )
    else:
        resumed = f", resumed after {apply.resumed_after}" if apply.resumed_after else ""
        kind = "backfill: " if backfill is not None else ""
        head = (
            f"**users**: {kind}{apply.fetched:,} of {apply.requested:,} details fetched{resumed} "
            f"in {apply.elapsed_s:.1f} s ({apply.detail_rps:.2f} requests/s against a limit of "
            f"{detail_limit_rps:g})"
        )
    inserted = w.inserted + (bootstrap.inserted if bootstrap else 0)
    quarantined = w.quarantined + (bootstrap.quarantined if bootstrap else 0)
    return "\n".join(
        [
            head,
            "",
            "| inserted | updated | unchanged | soft-deleted | quarantined | live rows |",
            "|---:|---:|---:|---:|---:|---:|",
            (
                f"| {inserted:,} | {w.updated:,} | {w.unchanged:,} | {w.soft_deleted:,} "
                f"| {quarantined:,} | {coverage.live:,} |"
            ),
            "",
            coverage.describe(eta_rps or detail_limit_rps),
        ]
    )
