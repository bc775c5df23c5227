"""`cnm run`: run experiments one after another and print a summary table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from emulator.experiments.registry import Experiment, experiments
from emulator.experiments.results import Outcome, RunContext


def _select(names: list[str]) -> list[Experiment]:
    known = experiments()
    if not names:
        return [e for e in known.values() if e.kind == "experiment"]
    if names == ["all"]:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"cnm: unknown experiment {unknown[0]!r}; registered: "
                         + ", ".join(sorted(known)))
    return [known[n] for n in names]


def run_cli(names: list[str], topology: str | None, results: str, list_only: bool,
            params: dict[str, str] | None = None) -> int:
    if list_only:
        for exp in sorted(experiments().values(), key=lambda e: (e.kind, e.name)):
            print(f"{exp.name:<19}{exp.kind:<12}{exp.summary}")
        return 0
    selected = _select(names)
    root = Path(results)
    rows = []
    for exp in selected:
        print(f"==> {exp.name}: {exp.summary}", flush=True)
        ctx = RunContext(exp.name, root, {"topology": topology or "<default>", **(params or {})})
        started = time.monotonic()
        try:
            outcome = exp.run(ctx)
        except Exception as exc:  # noqa: BLE001 - one broken experiment must not hide the rest
            outcome = Outcome(False, f"error: {type(exc).__name__}: {exc}")
            ctx.finish(outcome, f"# {exp.name}\n\nThe run failed: `{exc}`\n")
        rows.append((exp.name, outcome, time.monotonic() - started, ctx.dir))
    print()
    print(f"{'EXPERIMENT':<19}{'VERDICT':<9}{'CHECKS':<11}{'TIME':>7}  RESULTS / HEADLINE")
    for name, outcome, took, where in rows:
        bad = sum(1 for c in outcome.checks if not c.ok)
        verdict = "ok" if outcome.ok else "DIFFERS"
        checks = f"{len(outcome.checks) - bad}/{len(outcome.checks)}"
        print(f"{name:<19}{verdict:<9}{checks:<11}{took:>6.1f}s  {where}")
        print(f"{'':<46}{outcome.headline}")
    failed = [name for name, outcome, _, _ in rows if not outcome.ok]
    if failed:
        print(f"\nobserved behaviour differs from the expected one in: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0
