"""The benchmarks' figure logic: medians of every run on both sides, ratios of medians, and which
runs count (a failed run fails its case instead of being left out)."""

from __future__ import annotations

import pytest

from sync_pipeline.bench import cars
from sync_pipeline.bench.report import BenchReport
from sync_pipeline.bench.runs import (
    CaseFailed,
    Measured,
    Runs,
    median_ratio,
    report_median,
    report_median_ratio,
    report_same_count,
)


def runs(label: str, *seconds: float, **attributes: list) -> Runs:
    measured = Runs(label)
    for n, value in enumerate(seconds):
        measured.add(Measured(value, **{k: v[n] for k, v in attributes.items()}))
    return measured


def figure(report: BenchReport, starts: str):
    (found,) = [f for f in report.figures if f.name.startswith(starts)]
    return found


def test_the_median_takes_every_run_not_the_best():
    assert runs("ours", 3.0, 1.0, 10.0).median() == 3.0
    assert runs("ours", 4.0, 1.0, 2.0, 10.0).median() == 3.0
    assert runs("ours", 1.0, 2.0, 3.0, written=[0, 7, 0]).most("written") == 7


def test_a_ratio_is_the_median_of_one_side_over_the_median_of_the_other():
    dlt = runs("dlt", 9.0, 30.0, 12.0)  # median 12, best 9
    ours = runs("ours", 2.0, 1.0, 3.0)  # median 2, best 1
    assert median_ratio(dlt, ours) == 6.0
    whole = runs("dlt", 1.0, 1.0, 1.0, process_s=[20.0, 24.0, 22.0])
    assert median_ratio(whole, ours, attribute="process_s", denominator_attribute="seconds") == 11.0


def test_a_failed_run_fails_the_case_instead_of_being_left_out():
    dlt = runs("dlt", 9.0, 30.0)
    dlt.add(Measured.failed("the load has failed jobs"))
    ours = runs("ours", 1.0, 1.0, 1.0)
    assert not dlt.ok and dlt.errors == ["the load has failed jobs"]
    with pytest.raises(CaseFailed, match="failed jobs"):
        dlt.median()
    with pytest.raises(CaseFailed):
        median_ratio(dlt, ours)
    with pytest.raises(CaseFailed, match="no run"):
        Runs("nothing").median()

    report = BenchReport("t")
    report_median_ratio(report, "dlt / ours", dlt, ours, at_least=3)
    failed = figure(report, "median ratio dlt / ours")
    assert failed.ok is False and "dlt ran without failure" in failed.name
    assert not report.ok


def test_figures_name_the_statistic_and_judge_the_median():
    report = BenchReport("t")
    ours = runs("ours", 1.0, 5.0, 2.0, wal_bytes=[3_000_000, 1_000_000, 2_000_000])
    report_median(report, "first load: ours, in-process wall", ours, at_most=2.5)
    report_median(report, "first load: ours, WAL", ours, "MB", "wal_bytes")
    report_median_ratio(report, "dlt / ours", runs("dlt", 7.0, 6.0, 8.0), ours, at_least=3.5)
    wall = figure(report, "first load: ours, in-process wall")
    assert wall.name.endswith("(median of 3)") and wall.value == 2.0 and wall.ok
    assert figure(report, "first load: ours, WAL").value == 2.0
    ratio = figure(report, "median ratio dlt / ours")
    assert ratio.value == 3.5 and ratio.ok and ratio.target == ">= 3.5"
    report_median_ratio(report, "slower", runs("dlt", 6.0, 6.0, 6.0), ours, at_least=3.5)
    assert figure(report, "median ratio slower").ok is False


def test_both_sides_must_run_the_same_number_of_times():
    report = BenchReport("t")
    report_same_count(report, "even", [runs("a", 1, 2, 3), runs("b", 1, 2, 3)], 3)
    report_same_count(report, "uneven", [runs("a", 1, 2, 3), runs("b", 1)], 3)
    report_same_count(report, "too few", [runs("a", 1, 2), runs("b", 1, 2)], 3)
    assert [figure(report, name).ok for name in ("even", "uneven", "too few")] == [
        True,
        False,
        False,
    ]


def test_a_dlt_load_with_failed_jobs_does_not_count():
    assert cars.run_error(0, {"ok": True, "run_s": 1.0, "has_failed_jobs": False}, "") is None
    assert (
        cars.run_error(0, {"ok": True, "run_s": 1.0, "has_failed_jobs": True}, "")
        == "the load has failed jobs"
    )
    assert cars.run_error(1, {"ok": False, "error": "boom"}, "") == "boom"
    assert cars.run_error(-9, {}, "Traceback\nKilled") == "Killed"


def test_quick_keeps_every_like_for_like_pair_and_every_ratio_names_the_median():
    for plan in (cars.QUICK, cars.FULL):
        assert {cars.DLT_SKIP, cars.DLT_INCREMENTAL} <= set(plan.dlt_configs)
    assert cars.ROUNDS >= 3
    report = BenchReport("cars")
    cases = cars.Cases.empty(cars.QUICK)
    for measured in cases.runs.values():
        for n in range(cars.ROUNDS):
            measured.add(
                Measured(
                    1.0 + n,
                    written=0,
                    wal_bytes=1000,
                    process_s=3.0 + n,
                    details={"expected_written": 0, "written_ids_match": True},
                )
            )
    cars.report_first_load(report, "", cases)
    cars.report_unchanged(report, "", cases)
    cars.report_mutated(report, "", cases, [{"updated": 0, "touched": 0}])
    ratios = [f for f in report.figures if f.unit == "x"]
    assert ratios and all("median" in f.name for f in ratios)
    targeted = {f.name for f in ratios if f.target}
    assert any(
        "upsert + skip_unchanged_rows / ours full refresh, in-process" in n for n in targeted
    )
    assert any("incremental on updated_at / ours incremental partition" in n for n in targeted)
    assert any("whole command (both whole processes)" in n for n in targeted)
    assert not any("incremental on updated_at / ours full refresh" in n for n in targeted)
    names = " | ".join(f.name for f in report.figures)
    assert "whole command" in names and "in-process" in names


def test_the_benchmark_measures_the_settings_the_asset_ships_with(monkeypatch):
    from sync_pipeline.defs.cars.config import CarsSyncConfig

    for name in ("PAGE_SIZE", "BATCH_SIZE", "PARALLEL_BATCHES"):
        monkeypatch.delenv(name, raising=False)
    assert CarsSyncConfig().settings() == cars.SHIPPED
    assert cars.PAGE_SIZE == cars.SHIPPED.page_size
    assert "shipped defaults" in cars.NOTES["settings"]


def test_the_command_overhead_is_the_difference_of_the_two_medians():
    report = BenchReport("cars")
    command = runs("ours whole command", 9.0, 4.0, 5.0)  # median 5, best 4
    in_process = runs("ours in-process", 1.0, 3.5, 3.0)  # median 3, best 1
    cars._command_overhead(report, "overhead", command, in_process)
    (overhead,) = report.figures
    assert overhead.value == 2.0 and overhead.target == f"<= {cars.COMMAND_OVERHEAD_MAX_S:g}"
    assert overhead.ok is (2.0 <= cars.COMMAND_OVERHEAD_MAX_S)
    command.add(Measured.failed("exit 1: check reconciliation: FAILED"))
    cars._command_overhead(report, "again", command, in_process)
    assert report.figures[-1].ok is False
