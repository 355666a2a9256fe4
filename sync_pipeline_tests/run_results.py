"""Reading what a Dagster run did, for assertions."""

import dagster as dg

from sync_pipeline.sources import check_evaluations, materialization_metadata

__all__ = ["check_results", "materialization_metadata"]


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in check_evaluations(result)}
