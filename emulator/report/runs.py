"""What one run of `cnm run` (or `cnm conformance`) left on disk, read back for a report.

A run directory is results/<experiment>/<run-id>/ with meta.json (`emulator.results`),
summary.md, CSVs, plots and pcaps. This module only reads what is there: it never
imports an experiment, so a report can be built from runs of any version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from emulator.results import META

# A figure's unit, by the end of its name (the experiments' naming convention).
UNIT_SUFFIXES: dict[str, str] = {
    "_s": "s",
    "_seconds": "s",
    "_ms": "ms",
    "_us": "µs",
    "_gbps": "Gbit/s",
    "_mbps": "Mbit/s",
    "_kpps": "kpkt/s",
    "_pps": "pkt/s",
    "_percent": "%",
    "_bytes": "bytes",
    "speedup": "×",
    "ratio": "×",
}


@dataclass(frozen=True)
class Interval:
    """A 95 % confidence interval a run recorded for one figure."""

    low: float
    high: float


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    ci: Interval | None = None

    def text(self) -> str:
        """The figure as a person reads it: `0.34 s (95 % CI 0.31–0.37)`."""
        shown = f"{format_number(self.value)} {self.unit}".strip()
        if self.ci is not None:
            shown += f" (95 % CI {format_number(self.ci.low)}–{format_number(self.ci.high)})"
        return shown


@dataclass
class Run:
    """One run directory and what its meta.json says."""

    directory: Path
    meta: dict[str, object]
    figures: list[Figure] = field(default_factory=list)

    @property
    def experiment(self) -> str:
        return str(self.meta.get("experiment") or self.directory.parent.name)

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or self.directory.name)

    @property
    def verdict(self) -> str:
        """`ok`, `DIFFERS` or, when the run recorded one, its own verdict (e.g. `ERROR`)."""
        recorded = self.meta.get("verdict")
        if isinstance(recorded, str) and recorded:
            return recorded
        return "ok" if self.meta.get("ok") else "DIFFERS"

    @property
    def summary_md(self) -> str:
        path = self.directory / "summary.md"
        return path.read_text(errors="replace") if path.is_file() else ""

    def files(self, *suffixes: str) -> list[Path]:
        """The run's files with these suffixes, in its directory and below, sorted."""
        return sorted(p for p in self.directory.rglob("*")
                      if p.is_file() and p.suffix.lower() in suffixes)


def format_number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def unit_of(name: str) -> str:
    for suffix, unit in UNIT_SUFFIXES.items():
        if name.endswith(suffix):
            return unit
    return ""


def _ci_names(name: str) -> list[tuple[str, str | None]]:
    """Names under which a run may record the CI of `name`: (low or half-width, high).

    `X_ci_low`/`X_ci_high`, `X_ci` (half-width), and with the unit kept last:
    `start_api_ci_ms` (half-width of `start_api_ms`), `rtt_ci_low_ms`/`rtt_ci_high_ms`.
    """
    names: list[tuple[str, str | None]] = [(f"{name}_ci_low", f"{name}_ci_high"),
                                           (f"{name}_ci", None)]
    base, sep, unit = name.rpartition("_")
    if sep and unit_of(name):
        names += [(f"{base}_ci_low_{unit}", f"{base}_ci_high_{unit}"), (f"{base}_ci_{unit}", None)]
    return names


def figures_of(raw: dict[str, object]) -> list[Figure]:
    """The numeric figures of a meta.json, each with its CI attached when recorded; the
    CI entries themselves are not figures of their own."""
    numbers = {k: float(v) for k, v in raw.items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    used: set[str] = set()
    found: list[Figure] = []
    for name, value in numbers.items():
        ci = None
        for first, second in _ci_names(name):
            if second is None and first in numbers:
                ci = Interval(value - numbers[first], value + numbers[first])
            elif second is not None and first in numbers and second in numbers:
                ci = Interval(numbers[first], numbers[second])
            if ci is not None:
                used.update({first, second} - {None})
                break
        found.append(Figure(name, value, unit_of(name), ci))
    return [f for f in found if f.name not in used]


def read_run(directory: Path) -> Run:
    meta = json.loads((directory / META).read_text())
    raw = meta.get("figures") or {}
    return Run(directory, meta, figures_of(raw if isinstance(raw, dict) else {}))


def find_runs(path: Path) -> list[Run]:
    """The runs a path names: a run directory itself, or the latest run of each
    experiment below it (an experiment's directory or a whole results/ tree)."""
    path = Path(path)
    if (path / META).is_file():
        return [read_run(path)]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such run or results directory")
    latest: dict[str, Path] = {}
    for meta in sorted(path.glob(f"*/{META}")) + sorted(path.glob(f"*/*/{META}")):
        run = meta.parent
        experiment = run.parent.name if run.parent != path else path.name
        if experiment not in latest or run.name > latest[experiment].name:
            latest[experiment] = run
    if not latest:
        raise FileNotFoundError(f"{path}: no run directory (with {META}) in it")
    return [read_run(latest[name]) for name in sorted(latest)]


def previous_run(run: Run) -> Run | None:
    """The run of the same experiment just before `run` (run ids sort by start time),
    beside it in its experiment's directory, or None."""
    earlier = [p.parent for p in run.directory.parent.glob(f"*/{META}")
               if p.parent.name < run.directory.name]
    return read_run(max(earlier, key=lambda p: p.name)) if earlier else None


def previous_runs(run_dirs: list[Path]) -> list[Path]:
    """For each run the paths name, the run of its experiment just before it, if any:
    what `cnm run` compares its new runs with."""
    found = (previous_run(run) for path in run_dirs for run in find_runs(Path(path)))
    return [run.directory for run in found if run is not None]
