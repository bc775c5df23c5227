"""`cnm run`: run experiments one after another, showing each one's progress, then a
summary table with one verdict per experiment and an exit status saying which.

A verdict is `ok` (behaves as Docker), `DIFFERS` (observed behaviour differs from
Docker's) or `ERROR` (the experiment could not run: a bad argument, a tool missing,
a failure on the way; the reason in one line). Nothing an experiment could not
measure is reported as a difference from Docker.
"""

from __future__ import annotations

import difflib
import sys
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import IO

from emulator.experiments.registry import COMMON_PARAMS, Experiment, experiments
from emulator.experiments.results import (
    ERROR,
    ExperimentError,
    Outcome,
    RunContext,
    could_not_run,
    exit_status,
)
from emulator.experiments.terminal import Terminal, expected_seconds, open_terminal


class _Refused(Exception):
    """An argument of `cnm run` no selected experiment can run with: an ERROR."""


def _select(names: list[str]) -> list[Experiment]:
    known = experiments()
    if not names:
        return [e for e in known.values() if e.kind == "experiment"]
    if names == ["all"]:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _Refused(f"unknown experiment {unknown[0]!r}{hint}; registered: "
                       + ", ".join(sorted(known)))
    return [known[n] for n in names]


def refused_param(selected: list[Experiment], given: Iterable[str]) -> str | None:
    """Why a parameter given to `cnm run` is refused: none of the selected experiments
    takes it. One that some take goes to every experiment; the others ignore it."""
    for param in given:
        if param in COMMON_PARAMS or any(param in e.params for e in selected):
            continue
        option = "--topology" if param == "topology" else f"--param {param}"
        names = ", ".join(e.name for e in selected)
        takers = sorted(e.name for e in experiments().values() if param in e.params)
        verb = "takes" if len(selected) == 1 else "take"
        return (f"{names} {verb} no {option}"
                + (f" (it is for: {', '.join(takers)})" if takers else ""))
    return None


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The reason an experiment could not run: an ExperimentError's words, else the
    exception's type and words, on one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text if len(text) <= limit else text[:limit - 3] + "..."
    return text if isinstance(exc, ExperimentError) else f"{type(exc).__name__}: {text}"


def run_one(exp: Experiment, ctx: RunContext) -> Outcome:
    try:
        return exp.run(ctx)
    except Exception as exc:  # noqa: BLE001 - one broken experiment must not hide the rest
        outcome = could_not_run(one_line(exc))
        ctx.finish(outcome, f"# {exp.name}\n\nThe experiment could not run: `{outcome.error}`\n")
        return outcome


Row = tuple[str, Outcome, float, Path]  # experiment, outcome, seconds, run directory


def summary_table(rows: list[Row]) -> list[str]:
    lines = [f"{'EXPERIMENT':<19}{'VERDICT':<9}{'CHECKS':<11}{'TIME':>7}  RESULTS / HEADLINE"]
    for name, outcome, took, where in rows:
        bad = sum(1 for c in outcome.checks if not c.ok)
        checks = f"{len(outcome.checks) - bad}/{len(outcome.checks)}" if outcome.checks else "-"
        lines.append(f"{name:<19}{outcome.verdict:<9}{checks:<11}{took:>6.1f}s  {where}")
        lines.append(f"{'':<46}{outcome.headline}")
    return lines


def _verdict_lines(rows: list[Row]) -> list[str]:
    lines = []
    errors = [name for name, outcome, _, _ in rows if outcome.verdict == ERROR]
    differs = [name for name, outcome, _, _ in rows if outcome.verdict == "DIFFERS"]
    if differs:
        lines.append(f"observed behaviour differs from Docker's in: {', '.join(differs)}")
    if errors:
        lines.append(f"could not run: {', '.join(errors)}")
    return lines


def run_cli(names: list[str], topology: str | None, results: str, list_only: bool,
            params: dict[str, str] | None = None, verbose: bool = False,
            out: IO[str] | None = None) -> int:
    """`cnm run`; returns the exit status: 0 all ok, 1 some DIFFERS, 2 some ERROR.

    An argument no experiment can run with is refused before any starts, in one line
    on stderr (a bad topology file as `cnm topology check` says it)."""
    out = out or sys.stdout
    if list_only:
        for exp in sorted(experiments().values(), key=lambda e: (e.kind, e.name)):
            print(f"{exp.name:<19}{exp.kind:<12}{exp.summary}", file=out)
        return 0
    params = dict(params or {})
    try:
        selected = _select(names)
        refusal = refused_param(selected, [*params, *(["topology"] if topology else [])])
        if refusal is not None:
            raise _Refused(refusal)
        if topology:
            _read_topology(topology)
    except _Refused as exc:
        print(f"cnm run: ERROR: {exc}", file=sys.stderr)
        return exit_status([ERROR])
    rows = _run_all(selected, Path(results), {"topology": topology or "<default>", **params},
                    verbose, out)
    print("", *summary_table(rows), sep="\n", file=out, flush=True)
    report = write_run_report(Path(results), [run_dir for *_, run_dir in rows])
    if report is not None:
        print(f"\nreport: {report}", file=out, flush=True)
    for line in _verdict_lines(rows):
        print(line, file=sys.stderr)
    return exit_status([outcome.verdict for _, outcome, _, _ in rows])


def write_run_report(root: Path, run_dirs: list[Path]) -> Path | None:
    """The report of this run's experiments (results/report/<run-id>/index.html), each
    compared with its previous run when there is one; None when no run was written."""
    from emulator.report import build_report, default_out_dir, previous_runs

    written = [d for d in run_dirs if (d / "meta.json").is_file()]
    if not written:
        return None
    return build_report(written, default_out_dir(root),
                        compare_with=previous_runs(written) or None)


def _read_topology(path: str) -> None:
    """Refuse a --topology file that cannot be read; TopologyError (a file that is not a
    topology) goes up to `cnm`, which prints its problems and exits with 2."""
    from emulator.lab.dryrun import check_topology_file

    try:
        check_topology_file(path)
    except OSError as exc:
        raise _Refused(f"--topology {path}: {exc.strerror or exc}") from exc


def _run_all(selected: list[Experiment], root: Path, params: dict[str, object],
             verbose: bool, out: IO[str]) -> list[Row]:
    rows: list[Row] = []
    terminal: Terminal = open_terminal(out)
    try:
        for exp in selected:
            terminal.begin(exp.name, exp.summary, expected_seconds(root, exp.name))
            ctx = RunContext(exp.name, root, params, step=partial(terminal.step, exp.name),
                             echo=terminal.echo, verbose=verbose)
            started = time.monotonic()
            outcome = run_one(exp, ctx)
            took = time.monotonic() - started
            terminal.end(exp.name, outcome.verdict if not outcome.error
                         else f"{outcome.verdict}: {outcome.error}", took)
            rows.append((exp.name, outcome, took, ctx.dir))
    finally:
        terminal.close()
    return rows
