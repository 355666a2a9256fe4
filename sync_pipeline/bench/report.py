"""The shape every benchmark prints and writes: figures with their targets, and the machine.

JSON: `{"benchmark": NAME, "figures": [{"name", "value", "unit", "target", "ok"}],
"environment": {...}}`. `target` is a string such as ">= 80000" (None for a figure shown for
context), `ok` is True/False against it (None without a target).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str | None = None
    ok: bool | None = None


@dataclass
class BenchOptions:
    """What every benchmark accepts from the command line."""

    json_path: Path | None = None
    quick: bool = False
    long: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchReport:
    benchmark: str
    figures: list[Figure] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)

    def info(self, name: str, value: float, unit: str) -> Figure:
        """A figure shown for context, with no target."""
        return self._add(Figure(name, _round(value), unit))

    def at_least(self, name: str, value: float, unit: str, minimum: float) -> Figure:
        return self._add(Figure(name, _round(value), unit, f">= {minimum:g}", value >= minimum))

    def at_most(self, name: str, value: float, unit: str, maximum: float) -> Figure:
        return self._add(Figure(name, _round(value), unit, f"<= {maximum:g}", value <= maximum))

    def equal(self, name: str, value: float, unit: str, expected: float) -> Figure:
        return self._add(Figure(name, _round(value), unit, f"== {expected:g}", value == expected))

    def _add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    @property
    def ok(self) -> bool:
        return all(f.ok is not False for f in self.figures)

    def to_json(self) -> dict[str, Any]:
        env = {**machine_environment(), **self.environment}
        return {
            "benchmark": self.benchmark,
            "figures": [asdict(f) for f in self.figures],
            "environment": env,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def table(self) -> str:
        rows = [("figure", "value", "unit", "target", "ok")]
        for f in self.figures:
            ok = "" if f.ok is None else ("yes" if f.ok else "NO")
            rows.append(
                (
                    f.name,
                    f"{f.value:,.6g}" if isinstance(f.value, float) else f"{f.value:,}",
                    f.unit,
                    f.target or "",
                    ok,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [f"benchmark: {self.benchmark}"]
        for i, row in enumerate(rows):
            lines.append(
                "  ".join(
                    cell.ljust(w) if j != 1 else cell.rjust(w)
                    for j, (cell, w) in enumerate(zip(row, widths))
                )
            )
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append(f"result: {'all targets met' if self.ok else 'TARGET MISSED'}")
        return "\n".join(lines)


def _round(value: float) -> float:
    return round(float(value), 4) if isinstance(value, float) else value


def machine_environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
