"""`cnm report`: one page across experiments and runs, read from what `cnm run` wrote.

It reads run directories (results/<experiment>/<run-id>/: meta.json, summary.md, CSVs,
plots, pcaps) and never imports an experiment, so it sits just above `results`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from emulator.report.builder import build_report, write_report
from emulator.report.compare import DEFAULT_TOLERANCE
from emulator.report.runs import Run, find_runs, previous_run, previous_runs
from emulator.results import new_run_id

__all__ = ["build_report", "default_out_dir", "previous_runs", "report_cli"]

EXIT_REGRESSED = 1


def default_out_dir(results: Path) -> Path:
    """Where a report goes unless told: results/report/<run-id>/."""
    return Path(results) / "report" / new_run_id()


def report_cli(run_dirs: list[str], compare: list[str] | None, check: bool,
               out_dir: str | None, results: str = "results",
               tolerance: float = DEFAULT_TOLERANCE, previous: bool = True) -> int:
    """Write the report, print its path; with `check`, exit 1 if a figure regressed.

    Without --compare, each run is compared with its experiment's previous run (when
    there is one and `previous`)."""
    if compare and run_dirs:
        print("cnm report: give run directories or --compare A B, not both", file=sys.stderr)
        return 2
    if compare:
        baseline: list[Run] | None = find_runs(Path(compare[0]))
        runs = find_runs(Path(compare[1]))
    else:
        runs = [r for path in (run_dirs or [results]) for r in find_runs(Path(path))]
        earlier = [p for p in map(previous_run, runs) if p is not None] if previous else []
        baseline = earlier or None
    target = Path(out_dir) if out_dir else default_out_dir(Path(results))
    report = write_report(runs, target, baseline, tolerance)
    print(report.index)
    if report.pairs is not None:
        worse = [c for p in report.pairs for c in p.changes if c.regressed]
        for change in worse:
            row = change.row()
            print(f"WORSE {change.experiment} {change.name}: {row['before']} -> {row['after']} "
                  f"({row['change %']}, {change.rule})")
        if check and worse:
            print(f"cnm report: {len(worse)} figure(s) worse beyond noise", file=sys.stderr)
            return EXIT_REGRESSED
    elif check:
        print("cnm report: --check: no baseline (give --compare A B, or runs that have a "
              "previous run)", file=sys.stderr)
        return 2
    return 0
