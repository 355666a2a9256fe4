"""Materialization metadata of a users run: what was listed, what changed, what was stored."""

from typing import Any

import dagster as dg

from sync_pipeline.pipelines.users.apply import ApplyOutcome
from sync_pipeline.pipelines.users.reconcile import ReconcileOutcome

IDS_SAMPLE = 50


def snapshot_metadata(reconcile: ReconcileOutcome | None, requested_ids: list[int]) -> dict[str, Any]:
    """`users_snapshot`: the listing a reconcile walked, or the ids a worker run was given."""
    if reconcile is None:
        return {"mode": "worker", "ids_requested": len(requested_ids),
                "ids_sample": dg.MetadataValue.json(requested_ids[:IDS_SAMPLE])}
    walk = reconcile.walk
    return {"mode": "reconcile", "scope": reconcile.scope.label, "window": walk.window.describe(),
            "pages": walk.pages_read, "users_listed": len(walk.summaries),
            "upstream_total": walk.total if walk.total is not None else -1,
            "stable_walk": walk.stable, "rejected_summaries": walk.rejected,
            "unfingerprintable": reconcile.unfingerprintable, "list_elapsed_s": float(walk.elapsed_s)}


def changes_metadata(reconcile: ReconcileOutcome | None, requested_ids: list[int]) -> dict[str, Any]:
    """`users_changes`: how the listed users compared with the table (for a worker run: the
    detector already decided, every id given is a change)."""
    if reconcile is None:
        return {"mode": "worker", "changed": len(requested_ids),
                "changed_ids_sample": dg.MetadataValue.json(requested_ids[:IDS_SAMPLE])}
    counts = reconcile.classification.counts
    return {"mode": "reconcile", "changed": counts["changed"], "touch_only": counts["touched"],
            "unchanged": counts["unchanged"], "missing_from_list": reconcile.missing,
            "changed_ids_sample": dg.MetadataValue.json(reconcile.classification.changed[:IDS_SAMPLE])}


def table_metadata(apply: ApplyOutcome, detail_limit_rps: float, live_rows: int) -> dict[str, Any]:
    """`users`: what was stored, and how fast the details came."""
    w = apply.write
    return {
        "live_rows": live_rows, "ids_requested": apply.requested, "resumed_after": apply.resumed_after,
        "details_fetched": apply.fetched, "inserted": w.inserted, "updated": w.updated,
        "unchanged": w.unchanged, "soft_deleted": w.soft_deleted, "not_found": w.not_found,
        "quarantined": w.quarantined, "pending_cleared": w.pending_cleared,
        "batches": apply.batches, "detail_rps": float(apply.detail_rps), "detail_limit_rps": float(detail_limit_rps),
        "elapsed_s": float(apply.elapsed_s), "latency_p95_ms": float(apply.http.get("latency_p95_ms", 0.0)),
        "retries": apply.http.get("retries", 0), "http_429": apply.http.get("http_429", 0),
        "summary": dg.MetadataValue.md(summary_markdown(apply, detail_limit_rps, live_rows)),
    }


def summary_markdown(apply: ApplyOutcome, detail_limit_rps: float, live_rows: int) -> str:
    w = apply.write
    resumed = f", resumed after {apply.resumed_after}" if apply.resumed_after else ""
    return "\n".join([
        f"**users**: {apply.fetched:,} of {apply.requested:,} details fetched{resumed} in {apply.elapsed_s:.1f} s "
        f"({apply.detail_rps:.2f} requests/s against a limit of {detail_limit_rps:g})",
        "",
        "| inserted | updated | unchanged | soft-deleted | quarantined | live rows |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {w.inserted:,} | {w.updated:,} | {w.unchanged:,} | {w.soft_deleted:,} | {w.quarantined:,} "
        f"| {live_rows:,} |",
    ])
