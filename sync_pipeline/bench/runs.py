"""Repeated runs of one tool in one benchmark case, and the figures drawn from them.

Every compared figure is a statistic of all the runs of a case, the same statistic on both
sides: the median. A run that failed (an error, a dlt load with failed jobs) is no time: the
case then has no median, and every figure that needs it is reported as failed rather than
computed from the runs that happened to work.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sync_pipeline.bench.report import BenchReport

MB = 1_000_000


@dataclass
class Measured:
    """One run of one tool in one case: wall time, rows written, WAL, and whether it failed."""

    seconds: float
    written: int = 0
    wal_bytes: int = 0
    bookkeeping_written: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    process_s: float = 0.0  # the whole process, start to exit, where the run was one

    @property
    def wal_mb(self) -> float:
        return self.wal_bytes / MB

    @classmethod
    def failed(cls, error: str, seconds: float = 0.0) -> Measured:
        return cls(seconds, -1, 0, error=error)


class CaseFailed(Exception):
    """A statistic was asked of a case that has a failed run (or no run at all)."""


@dataclass
class Runs:
    """All runs of one tool in one case (`label` names both, e.g. "ours, first load")."""

    label: str
    runs: list[Measured] = field(default_factory=list)

    def add(self, measured: Measured) -> Measured:
        self.runs.append(measured)
        return measured

    @property
    def errors(self) -> list[str]:
        return [m.error for m in self.runs if m.error]

    @property
    def ok(self) -> bool:
        """Ran at least once and never failed: only then do its figures count."""
        return bool(self.runs) and not self.errors

    def values(self, attribute: str = "seconds") -> list[float]:
        if not self.ok:
            raise CaseFailed(f"{self.label}: " + ("; ".join(self.errors) or "no run"))
        return [float(getattr(m, attribute)) for m in self.runs]

    def median(self, attribute: str = "seconds") -> float:
        return statistics.median(self.values(attribute))

    def most(self, attribute: str) -> float:
        return max(self.values(attribute))

    def summary(self, attribute: str = "seconds") -> dict[str, Any]:
        """Every run's value (for the JSON), whether or not the case counts."""
        return {
            "label": self.label,
            "values": [getattr(m, attribute) for m in self.runs],
            "errors": self.errors,
            "counted": self.ok,
        }


def median_ratio(
    numerator: Runs,
    denominator: Runs,
    attribute: str = "seconds",
    denominator_attribute: str | None = None,
) -> float:
    """median(numerator) / median(denominator): how many times longer the numerator takes."""
    bottom = denominator.median(denominator_attribute or attribute)
    if bottom <= 0:
        raise CaseFailed(f"{denominator.label}: median {bottom} is no time to divide by")
    return numerator.median(attribute) / bottom


def report_median(
    report: BenchReport,
    name: str,
    runs: Runs,
    unit: str = "s",
    attribute: str = "seconds",
    at_most: float | None = None,
) -> None:
    """`name (median of N)`: a target when `at_most` is given, else for context; failed runs
    make it a failed figure."""
    if not _report_failure(report, name, (runs,)):
        value = runs.median(attribute)
        if unit == "MB":
            value /= MB
        label = f"{name} (median of {len(runs.runs)})"
        if at_most is None:
            report.info(label, value, unit)
        else:
            report.at_most(label, value, unit, at_most)


def report_median_ratio(
    report: BenchReport,
    name: str,
    numerator: Runs,
    denominator: Runs,
    at_least: float | None = None,
    attribute: str = "seconds",
    denominator_attribute: str | None = None,
) -> None:
    """`median ratio NAME`: `median_ratio` with a target when `at_least` is given."""
    label = f"median ratio {name}"
    if _report_failure(report, label, (numerator, denominator)):
        return
    ratio = median_ratio(numerator, denominator, attribute, denominator_attribute)
    if at_least is None:
        report.info(label, ratio, "x")
    else:
        report.at_least(label, ratio, "x", at_least)


def report_same_count(report: BenchReport, name: str, sides: Sequence[Runs], minimum: int) -> None:
    """Both sides of a comparison ran the same number of times, at least `minimum`."""
    counts = {len(side.runs) for side in sides}
    report.at_least(
        f"{name}: runs per side (same on both sides)",
        min(counts) if len(counts) == 1 else 0,
        "runs",
        minimum,
    )


def _report_failure(report: BenchReport, name: str, sides: Sequence[Runs]) -> bool:
    failed = [side for side in sides if not side.ok]
    for side in failed:
        report.equal(f"{name}: {side.label} ran without failure", 0, "ok", 1)
    return bool(failed)
