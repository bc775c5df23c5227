"""The `conformance` experiment: the driver conformance kit over every built-in driver
and the `mesh` plugin.

One pytest run of the kit per driver (bridge, host, null, macvlan, overlay, mesh),
each in a lab of its own, all written into this run's directory
(results/conformance/<run-id>/: per driver results.json, then junit.xml, report.md,
report.html). `mesh` is reported as skipped while `emulator.mesh` is not installed.
The run differs from Docker when a check fails, and is an error when a driver's run
breaks down (the kit could not check it).
"""

from __future__ import annotations

from emulator.conformance import reports
from emulator.conformance.runner import EVERY_DRIVER, DriverRun, run_kit
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext


@register("conformance", "driver conformance kit: bridge, host, null, macvlan, overlay, mesh")
def run(ctx: RunContext) -> Outcome:
    summary = run_kit([DriverRun(d) for d in EVERY_DRIVER], ctx.dir, progress=ctx.progress,
                      output=lambda driver, text: ctx.detail(text, f"pytest-{driver}.txt"))
    checks = []
    for result in summary.results:
        if result.get("status") == "error":
            checks.append(Check(result["driver"], "the kit's run", "completed",
                                "broke down", False, result.get("reason", "")))
        for item in result["checks"]:
            checks.append(Check(result["driver"], f"{item['id']} {item['statement']}",
                                "passed or skipped", item["outcome"],
                                item["outcome"] in ("passed", "skipped"),
                                reports._one_line(item.get("reason", ""), 300)))
    ctx.write_checks(checks, "checks.csv")
    figures: dict[str, float] = {}
    parts = []
    for result in summary.results:
        n = reports.counts(result)
        driver = result["driver"]
        if driver in summary.wall_s:
            figures[f"{driver}_seconds"] = round(summary.wall_s[driver], 2)
        if result.get("status") == "skipped":
            parts.append(f"{driver} skipped")
            continue
        failed = sorted(reports.failed_ids(result))
        parts.append(f"{driver} {n['passed']} passed, {n['skipped']} skipped"
                     + (f", failed: {', '.join(failed)}" if failed else ""))
    broke = [f"{r['driver']}: {reports._one_line(r.get('reason', ''), 150)}"
             for r in summary.results if r.get("status") == "error"]
    outcome = Outcome(summary.ok, "; ".join(parts), checks, figures,
                      error=("the kit could not run for " + "; ".join(broke)) if broke else "")
    ctx.finish(outcome, summary.paths["markdown"].read_text())
    return outcome
