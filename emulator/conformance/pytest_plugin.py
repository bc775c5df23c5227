"""pytest plugin of the driver conformance kit.

`pytest --cnm-driver NAME` (from anywhere; from the repository root no other test
runs) collects the shipped checks by itself, builds one lab for the session, makes
the driver available on it (a topology with a LAN for macvlan, a swarm for overlay,
the plugin started on every Docker host for a third-party plugin, `mesh` launched and
peered), runs one test item per check and writes results/conformance/<run-id>/.
Without --cnm-driver the plugin only adds its options: a normal test run is untouched.

Options: --cnm-driver NAME, --cnm-engine emulated|docker (what runs the lab's Docker
hosts: the emulator, or a real dockerd inside each), --cnm-plugin-socket PATH
({host} is replaced by the Docker host's name), --cnm-plugin-command 'CMD {socket}'
({socket}, {host} and {python} are replaced), --cnm-results DIR (default: results).

JUnit XML is pytest's own (`--junitxml`, by default <run-dir>/<driver>/junit.xml),
each test case named by the check's id and statement; `-o junit_suite_name=NAME`
names the suite (`cnm conformance` names it cnm-conformance.<driver>).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emulator.conformance import reports
from emulator.conformance.hosts import step_of
from emulator.conformance.plugin_processes import PluginStartError
from emulator.conformance.registry import Check, CheckFailed
from emulator.conformance.runner import SUITE
from emulator.conformance.session import (
    LAB_PREFIX,
    LAB_PREFIX_ENV,
    WINDOW_S,
    KitSession,
    fresh_lab_name,
)
from emulator.conformance.targets import Target, TargetError, resolve
from emulator.errdefs import DockerError
from emulator.lab import realdocker
from emulator.lab.lab import LabError
from emulator.results import run_dir as new_run_dir
from emulator.topology.model import ENGINES

# record_xml_attribute names a test case: "name" and "classname" are attributes every
# JUnit family keeps, so pytest's warnings about the fixture do not apply here.
JUNIT_NAMING_WARNINGS = (
    "ignore:record_xml_attribute is an experimental feature:"
    "pytest.PytestExperimentalApiWarning",
    "ignore:record_xml_attribute is incompatible with junit_family:pytest.PytestWarning",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cnm-conformance", "CNM driver conformance kit")
    group.addoption("--cnm-driver", metavar="NAME", default=None,
                    help="run the driver conformance checks against NAME (a built-in "
                         "driver, mesh, or a plugin named with the options below)")
    group.addoption("--cnm-engine", metavar="ENGINE", default="emulated",
                    choices=ENGINES,
                    help="what runs the lab's Docker hosts: emulated (default) or docker "
                         "(a real dockerd inside each host)")
    group.addoption("--cnm-plugin-socket", metavar="PATH", default=None,
                    help="the plugin's Unix socket ({host}: the Docker host's name)")
    group.addoption("--cnm-plugin-command", metavar="CMD", default=None,
                    help="command that starts the plugin on each Docker host ({socket}, "
                         "{host}, {python} are filled in)")
    group.addoption("--cnm-results", metavar="DIR", default="results",
                    help="results directory (reports go to DIR/conformance/<run-id>/)")
    group.addoption("--cnm-run-dir", metavar="DIR", default=None,
                    help="write into this run directory (several drivers, one report)")
    group.addoption("--cnm-window", metavar="S", type=float, default=WINDOW_S,
                    help=f"probe reply window in seconds (default {WINDOW_S})")
    group.addoption("--cnm-lab-prefix", metavar="PREFIX",
                    default=os.environ.get(LAB_PREFIX_ENV, LAB_PREFIX),
                    help="the run's lab is named PREFIX plus random hex digits (default "
                         f"${LAB_PREFIX_ENV} or {LAB_PREFIX})")


@pytest.hookimpl(tryfirst=True)  # before junitxml's, which reads --junitxml
def pytest_configure(config: pytest.Config) -> None:
    driver = config.getoption("cnm_driver")
    if not driver:
        return
    if not config.pluginmanager.has_plugin("junitxml"):
        raise pytest.UsageError("--cnm-driver: the kit writes junit.xml with pytest's junitxml "
                                "plugin; do not disable it (-p no:junitxml)")
    try:
        target = resolve(driver, config.getoption("cnm_plugin_socket"),
                         config.getoption("cnm_plugin_command"))
    except TargetError as exc:
        raise pytest.UsageError(f"--cnm-driver: {exc}") from None
    target = replace(target, engine=config.getoption("cnm_engine"))
    if target.engine == "docker" and not target.unavailable:
        target = replace(target, unavailable=realdocker.available())
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(SUITE)]  # the shipped checks, and nothing else
    elif not any(Path(a.split("::")[0]).resolve() == SUITE for a in config.args):
        config.args.append(str(SUITE))
    run_dir = config.getoption("cnm_run_dir")
    run_dir = Path(run_dir) if run_dir else new_run_dir(
        Path(config.getoption("cnm_results")), reports.KIND)
    if not config.option.xmlpath and not config.option.collectonly:
        config.option.xmlpath = str(run_dir / target.driver / reports.JUNIT)
    for line in JUNIT_NAMING_WARNINGS:
        config.addinivalue_line("filterwarnings", line)
    recorder = Recorder(config, target, run_dir)
    config.stash[RECORDER] = recorder
    config.pluginmanager.register(recorder, "cnm-conformance-run")


RECORDER = pytest.StashKey["Recorder"]()


@pytest.fixture(scope="session")
def cnm_session(request: pytest.FixtureRequest, record_testsuite_property):
    """The lab of `--cnm-driver` with the driver made available on it, made when the
    first check needs it and removed at the end (None when it could not be made)."""
    recorder = request.config.stash.get(RECORDER, None)
    if recorder is None:
        pytest.skip("no --cnm-driver given")
    yield from recorder.kit(record_testsuite_property)


@pytest.fixture
def cnm_kit(request: pytest.FixtureRequest, record_xml_attribute, cnm_session) -> Kit:
    """What one check's test item gets; its JUnit test case is named by the check's id
    and statement, under the driver's name."""
    recorder = request.config.stash[RECORDER]
    callspec = getattr(request.node, "callspec", None)
    check = callspec.params.get("check") if callspec else None
    if isinstance(check, Check):
        record_xml_attribute("name", check.label)
        record_xml_attribute("classname", f"cnm_conformance.{recorder.target.driver}")
    if recorder.target.unavailable:
        pytest.skip(recorder.target.unavailable)
    if cnm_session is None:
        pytest.fail(f"the lab for {recorder.target.driver} could not be set up: "
                    f"{recorder.start_error}", pytrace=False)
    return Kit(cnm_session, recorder)


class Kit:
    """What a test item gets: the session's lab and target, and a way to run a check."""

    def __init__(self, session: KitSession, recorder: Recorder) -> None:
        self.session = session
        self.recorder = recorder

    def run_item(self, check: Check) -> None:
        reason = self.session.not_applicable or check.applies(self.session.target)
        if reason:
            pytest.skip(reason)
        ctx = self.session.context(check)
        failure = error = None
        try:
            check.run(ctx)
        except CheckFailed as exc:
            failure = str(exc)
        except DockerError as exc:
            error = engine_error(exc)
        except Exception as exc:  # noqa: BLE001 - reported as the check's error, in words
            error = unexpected_error(exc)
        finally:
            problems = ctx.cleanup()
            self.recorder.notes[check.id] = ctx.notes + [f"clean-up: {p}" for p in problems]
            self.recorder.differences[check.id] = list(ctx.differences)
            self.recorder.warnings[check.id] = list(ctx.warnings)
        if failure is not None:
            pytest.fail(f"{check.id}: {failure}", pytrace=False)
        if error is not None:
            pytest.fail(f"{check.id}: error: {error}", pytrace=False)
        for text in ctx.warnings:
            warnings.warn(ConformanceWarning(f"{check.id}: {text}"), stacklevel=1)


class ConformanceWarning(UserWarning):
    """A check passed, with something a driver author should hear about."""


def engine_error(exc: DockerError) -> str:
    """An engine's unexpected answer in a check: what the kit asked (and the driver calls
    that makes), and the answer, as Docker gave it."""
    step = step_of(exc) or "a Docker API call"
    return f"{step} failed: {exc.status} {exc.message}"


def unexpected_error(exc: Exception) -> str:
    """Any other exception: where in the kit it happened, and its text."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/conformance/" in f.filename] or frames
    where = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
    text = str(exc) or type(exc).__name__
    return f"the kit stopped{where}: {text} ({type(exc).__name__})"


class Recorder:
    """Records each check's outcome and writes the reports at the end of the session."""

    def __init__(self, config: pytest.Config, target: Target, run_dir: Path) -> None:
        self.config = config
        self.target = target
        self.run_dir = run_dir
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC).isoformat()
        self.by_nodeid: dict[str, Check] = {}
        self.outcomes: dict[str, dict] = {}
        self.notes: dict[str, list[str]] = {}
        self.differences: dict[str, list[str]] = {}  # check id -> version differences
        self.warnings: dict[str, list[str]] = {}  # check id -> warnings of a passed check
        self.session: KitSession | None = None
        self.start_error: str | None = None
        self.paths: dict[str, Path] = {}

    def kit(self, record_property) -> Iterator[KitSession | None]:
        """The session's lab, its description recorded as the JUnit suite's properties."""
        if self.target.unavailable:
            self._describe(self.target, record_property)
            yield None
            return
        session = KitSession(self.target, self.run_dir / self.target.driver,
                             window=self.config.getoption("cnm_window"),
                             lab_name=fresh_lab_name(self.config.getoption("cnm_lab_prefix")))
        try:
            session.start()
        except Exception as exc:  # noqa: BLE001 - every check reports it, whole
            self.start_error = start_error(exc)
        self._describe(session.target, record_property)
        if self.start_error is not None:
            yield None
            return
        self.session = session
        try:
            yield session
        finally:
            session.stop()

    @staticmethod
    def _describe(target: Target, record_property) -> None:
        for key, value in sorted(target.describe().items()):
            record_property(key, value if isinstance(value, str) else json.dumps(value))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:  # what runs, after -k and --deselect
            callspec = getattr(item, "callspec", None)
            check = callspec.params.get("check") if callspec else None
            if isinstance(check, Check):
                self.by_nodeid[item.nodeid] = check

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        check = self.by_nodeid.get(report.nodeid)
        if check is None:
            return
        entry = self.outcomes.setdefault(check.id, {
            "id": check.id, "statement": check.statement, "outcome": "passed",
            "time_s": 0.0, "reason": ""})
        entry["time_s"] += report.duration
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if report.skipped:
                entry["outcome"], entry["reason"] = "skipped", _skip_reason(report)
            elif report.failed:
                entry["outcome"] = "failed" if report.when == "call" else "error"
                entry["reason"] = _failure_text(report)
        elif report.when == "teardown" and report.failed and entry["outcome"] == "passed":
            entry["outcome"], entry["reason"] = "error", _failure_text(report)

    def result(self) -> dict:
        if self.target.unavailable:  # no lab was made: every check skipped, for this reason
            result = reports.skipped_driver(self.target.driver, self.target.unavailable,
                                            list(self.by_nodeid.values()))
            result["started"] = self.started_at
            return result
        checks = []
        for check in self.by_nodeid.values():
            entry = dict(self.outcomes.get(check.id) or {
                "id": check.id, "statement": check.statement, "outcome": "skipped",
                "time_s": 0.0, "reason": "not run (deselected)"})
            entry["time_s"] = round(entry["time_s"], 3)
            entry["notes"] = self.notes.get(check.id, [])
            entry["differences"] = self.differences.get(check.id, [])
            entry["warnings"] = self.warnings.get(check.id, [])
            checks.append(entry)
        session = self.session
        target = session.target if session is not None else self.target
        return {
            "driver": self.target.driver,
            "status": "error" if self.start_error else "ran",
            "reason": self.start_error or "",
            "started": self.started_at,
            "duration_s": round(time.monotonic() - self.started, 3),
            "setup_s": round(session.setup_s, 3) if session else None,
            "teardown_s": round(session.teardown_s, 3) if session else None,
            "lab": session.lab_name if session else None,
            "engine": target.engine,
            "engine_version": session.engine_version if session else None,
            "target": target.describe(),
            "teardown_problems": session.teardown_problems if session else [],
            "checks": checks,
        }

    @pytest.hookimpl(trylast=True)  # after junitxml has written this driver's junit.xml
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.outcomes:  # nothing ran (--collect-only, or every check deselected)
            return
        reports.write_driver_results(self.run_dir, self.result())
        junit = self.run_dir / self.target.driver / reports.JUNIT
        written = Path(self.config.option.xmlpath).resolve()
        if written != junit.resolve() and written.exists():  # --junitxml put it elsewhere
            shutil.copyfile(written, junit)
        self.paths = reports.write_reports(self.run_dir)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.paths:
            return
        result = self.result()
        n = reports.counts(result)
        terminalreporter.write_sep("-", "cnm conformance")
        terminalreporter.write_line(
            f"{self.target.driver}: {n['passed']} passed, {n['failed']} failed, "
            f"{n['error']} errors, {n['skipped']} skipped in {result['duration_s']:.1f} s")
        if self.session is not None:
            terminalreporter.write_line(
                f"lab {self.session.lab_name}: set up in {self.session.setup_s:.1f} s, "
                f"removed in {self.session.teardown_s:.1f} s")
            for problem in self.session.teardown_problems:
                terminalreporter.write_line(f"clean-up problem: {problem}")
        terminalreporter.write_line(f"report: {self.paths['markdown']} (also report.html, "
                                    "junit.xml)")


def start_error(exc: Exception) -> str:
    """Why the lab or the driver could not be set up, whole (a plugin's log tail with
    it); the class name only where the text alone would not say what broke."""
    text = str(exc).strip()
    if isinstance(exc, (PluginStartError, DockerError, LabError, RuntimeError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _failure_text(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and report.when == "call":
        return str(crash.message).removeprefix("Failed: ")
    text = str(report.longrepr).strip()
    lines = [line for line in text.splitlines() if line.startswith("E ")]
    return "\n".join(line[1:].strip() for line in lines) or text.splitlines()[-1]
