"""Running the kit: one pytest process per driver, one report for all of them.

`cnm conformance --driver NAME [--engine docker] ...` and the `conformance` experiment
both come here.
Each driver runs in a pytest process of its own (a lab per driver, so one driver's
crash cannot spoil another's verdicts), writing into one run directory; the reports
cover every driver of the run.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

from emulator.conformance import reports
from emulator.conformance.registry import all_checks
from emulator.conformance.targets import builtin_drivers
from emulator.results import run_dir as new_run_dir

SUITE = Path(__file__).with_name("suite.py")
PLUGIN_NAME = "emulator.conformance.pytest_plugin"
BUILTIN_DRIVERS = tuple(builtin_drivers())
EVERY_DRIVER = (*BUILTIN_DRIVERS, "mesh")


@dataclass(frozen=True)
class DriverRun:
    driver: str
    plugin_socket: str | None = None
    plugin_command: str | None = None


@dataclass
class RunSummary:
    run_dir: Path
    results: list[dict]
    wall_s: dict[str, float]
    paths: dict[str, Path]

    @property
    def ok(self) -> bool:
        return reports.run_ok(self.results)


def plugin_installed() -> bool:
    """Whether pytest loads the kit by itself (a pytest11 entry point names it)."""
    return any(ep.value == PLUGIN_NAME for ep in entry_points(group="pytest11"))


def pytest_argv(run: DriverRun, run_dir: Path, extra: list[str] = ()) -> list[str]:
    argv = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "-v",
            "--cnm-driver", run.driver, "--cnm-run-dir", str(run_dir),
            "-o", f"junit_suite_name=cnm-conformance.{run.driver}"]
    if not plugin_installed():
        argv[4:4] = ["-p", PLUGIN_NAME]
    if run.plugin_socket:
        argv += ["--cnm-plugin-socket", run.plugin_socket]
    if run.plugin_command:
        argv += ["--cnm-plugin-command", run.plugin_command]
    return argv + list(extra)


def _say(line: str) -> None:
    print(f"==> {line}", flush=True)


def run_kit(runs: list[DriverRun], run_dir: Path, extra: list[str] = (),
            capture: bool = False, progress: Callable[[str], None] = _say,
            output: Callable[[str, str], None] | None = None) -> RunSummary:
    """Run the kit once per driver into `run_dir`; then write the reports. `progress`
    gets one line per driver started and ended; `output`, when given, gets each
    driver's pytest output (driver, text) instead of the terminal."""
    capture = capture or output is not None
    wall: dict[str, float] = {}
    no_pytest = importlib.util.find_spec("pytest") is None
    for run in runs:
        if no_pytest:
            result = reports.skipped_driver(run.driver, "", all_checks())
            result.update(status="error", started=datetime.now(UTC).isoformat(),
                          reason="the conformance kit runs on pytest, which is not installed "
                                 "(pip install pytest)")
            reports.write_driver_results(run_dir, result)
            continue
        progress(f"conformance of {run.driver}")
        started = time.monotonic()
        done = subprocess.run(pytest_argv(run, run_dir, extra), text=True,
                              capture_output=capture)
        wall[run.driver] = time.monotonic() - started
        if output is not None:
            output(run.driver, done.stdout + done.stderr)
        result_file = run_dir / run.driver / reports.RESULTS
        if not result_file.exists():
            detail = (done.stdout + done.stderr)[-2000:] if capture else ""
            result = {"driver": run.driver, "status": "error", "started":
                      datetime.now(UTC).isoformat(), "duration_s": wall[run.driver],
                      "reason": f"pytest exited with status {done.returncode} before "
                                f"recording results {detail}".strip(),
                      "target": {"driver": run.driver}, "checks": []}
            reports.write_driver_results(run_dir, result)
        result = json.loads(result_file.read_text())
        if result["status"] == "skipped":  # not run here (mesh not installed): no time
            del wall[run.driver]
            progress(f"{run.driver}: skipped ({result['reason']})")
            continue
        progress(f"{run.driver}: {wall[run.driver]:.1f} s")
    paths = reports.write_reports(run_dir)
    return RunSummary(run_dir, reports.load_run(run_dir), wall, paths)


def print_summary(summary: RunSummary) -> None:
    print()
    print(f"{'DRIVER':<12}{'PASSED':>7}{'FAILED':>7}{'ERRORS':>7}{'SKIPPED':>8}{'TIME':>9}  "
          "FAILED CHECKS")
    for r in summary.results:
        n = reports.counts(r)
        took = summary.wall_s.get(r["driver"])
        time_s = f"{took:.1f}s" if took is not None else "-"
        failed = ", ".join(sorted(reports.failed_ids(r)))
        if r.get("status") == "skipped":
            failed = f"skipped: {reports._one_line(r.get('reason', ''), 100)}"
        elif r.get("status") == "error":
            failed = "error: see below"
        print(f"{r['driver']:<12}{n['passed']:>7}{n['failed']:>7}{n['error']:>7}"
              f"{n['skipped']:>8}{time_s:>9}  {failed}")
    for r in summary.results:  # a run that could not be made: its reason whole
        if r.get("status") == "error":
            print(f"\n{r['driver']}: the run could not be made:\n{r.get('reason', '')}")
    print(f"\nreport: {summary.paths['markdown']} (also {summary.paths['html'].name}, "
          f"{summary.paths['junit'].name})")


def run_cli(drivers: list[str], plugin_socket: str | None, plugin_command: str | None,
            results: str, keyword: str | None = None, list_only: bool = False,
            engine: str = "emulated") -> int:
    """`cnm conformance`: `engine` says what runs the lab's Docker hosts (emulated, or
    docker: a real dockerd inside each)."""
    if list_only:
        for item in all_checks():
            print(f"{item.id:<14}{item.statement}")
        return 0
    if not drivers:
        print("cnm conformance: name a driver with --driver NAME (built-in: "
              f"{', '.join(BUILTIN_DRIVERS)}; mesh; or a plugin with --plugin-socket or "
              "--plugin-command)", file=sys.stderr)
        return 2
    unknown = [d for d in drivers if d not in EVERY_DRIVER]
    if unknown and not (plugin_socket or plugin_command):
        close = difflib.get_close_matches(unknown[0], EVERY_DRIVER, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"cnm conformance: unknown driver {unknown[0]!r}{guess}: a built-in "
              f"({', '.join(BUILTIN_DRIVERS)}), mesh, or a plugin with --plugin-socket or "
              "--plugin-command", file=sys.stderr)
        return 2
    runs = []
    for driver in drivers:
        plugin = driver not in EVERY_DRIVER or driver == "mesh" and (plugin_socket
                                                                     or plugin_command)
        runs.append(DriverRun(driver, plugin_socket if plugin else None,
                              plugin_command if plugin else None))
    run_dir = new_run_dir(Path(results), reports.KIND)
    extra = ["--cnm-engine", engine] + (["-k", keyword] if keyword else [])
    summary = run_kit(runs, run_dir, extra)
    print_summary(summary)
    return 0 if summary.ok else 1
