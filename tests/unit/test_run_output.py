"""What `cnm run` prints and returns: verdicts, exit statuses, quiet and verbose output."""

from __future__ import annotations

import io
import json

import pytest

from emulator import cli
from emulator.experiments import runner
from emulator.experiments.registry import Experiment
from emulator.experiments.results import (
    Check,
    ExperimentError,
    Outcome,
    RunContext,
    could_not_run,
    exit_status,
)
from emulator.experiments.terminal import LiveTerminal, PlainTerminal, expected_seconds

TABLE = "\n".join(f"row {i}: " + "." * 40 for i in range(60))


@pytest.mark.parametrize(("outcome", "verdict"), [
    (Outcome(True, "fine"), "ok"),
    (Outcome(False, "2 cells wrong", [Check("m", "a -> b", "reached", "blocked", False)]),
     "DIFFERS"),
    (could_not_run("iperf3 missing"), "ERROR"),
])
def test_each_outcome_has_one_verdict(outcome, verdict):
    assert outcome.verdict == verdict


@pytest.mark.parametrize(("verdicts", "status"), [
    ([], 0), (["ok", "ok"], 0), (["ok", "DIFFERS"], 1), (["DIFFERS", "ERROR", "ok"], 2),
    (["ERROR"], 2),
])
def test_the_exit_status_says_the_worst_verdict(verdicts, status):
    assert exit_status(verdicts) == status


def _fake(monkeypatch, **runs) -> None:
    """Register only these experiments: name -> (function, params it takes)."""
    known = {name: Experiment(name, "experiment", f"the {name} one", fn, params)
             for name, (fn, params) in runs.items()}
    monkeypatch.setattr(runner, "experiments", lambda: known)


def _noisy(ctx: RunContext) -> Outcome:
    ctx.progress("probing")
    ctx.detail(TABLE, "truth-tables.txt")
    outcome = Outcome(True, "60/60 cells as Docker", [Check("m", "x", "a", "a", True)])
    ctx.finish(outcome, "# noisy\n")
    return outcome


def _cnm_run(argv: list[str]) -> int:
    args = cli.build_parser().parse_args(["run", *argv])
    return args.func(args)


def test_long_output_goes_to_a_file_and_only_verbose_prints_it(monkeypatch, tmp_path, capsys):
    _fake(monkeypatch, noisy=(_noisy, ()))
    assert _cnm_run(["noisy", "--results", str(tmp_path / "quiet")]) == 0
    quiet = capsys.readouterr().out
    assert "row 59" not in quiet and len(quiet.splitlines()) <= 8  # with the report's path
    assert quiet.splitlines()[-1].startswith("report: ")
    assert "noisy" in quiet and "probing" in quiet
    (run_dir,) = (tmp_path / "quiet" / "noisy").iterdir()
    assert (run_dir / "truth-tables.txt").read_text() == TABLE + "\n"
    assert "probing" in (run_dir / "progress.log").read_text()

    assert _cnm_run(["noisy", "-v", "--results", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr().out
    assert "row 0: " in loud and "row 59: " in loud
    (run_dir,) = (tmp_path / "loud" / "noisy").iterdir()
    assert (run_dir / "truth-tables.txt").exists()


def test_an_experiment_that_raises_is_an_error_not_a_difference(monkeypatch, tmp_path,
                                                                  capsys):
    def broken(ctx: RunContext) -> Outcome:
        raise ExperimentError("iperf3 is not installed\n(apt-get install iperf3)")

    def differs(ctx: RunContext) -> Outcome:
        outcome = Outcome(False, "1 cell wrong", [Check("m", "x", "a", "b", False)])
        ctx.finish(outcome, "# differs\n")
        return outcome

    _fake(monkeypatch, broken=(broken, ()), differs=(differs, ()))
    assert _cnm_run(["differs", "--results", str(tmp_path)]) == 1
    assert _cnm_run(["broken", "differs", "--results", str(tmp_path)]) == 2
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[-1].startswith("report: ") and lines[-2] == ""
    rows = [line.split() for line in lines[:-2]]
    assert ["broken", "ERROR", "-"] == rows[-4][:3]
    assert rows[-3] == "iperf3 is not installed (apt-get install iperf3)".split()
    assert ["differs", "DIFFERS", "0/1"] == rows[-2][:3]
    assert "could not run: broken" in printed.err
    (run_dir,) = (tmp_path / "broken").iterdir()
    assert json.loads((run_dir / "meta.json").read_text())["verdict"] == "ERROR"


def test_a_topology_given_to_experiments_that_take_none_is_an_error(monkeypatch, tmp_path,
                                                                   capsys):
    ran = []

    def tour(ctx: RunContext) -> Outcome:
        ran.append(ctx.experiment)
        return Outcome(True, "fine")

    _fake(monkeypatch, tour=(tour, ("lab",)), isolation=(tour, ("topology", "lab")))
    status = _cnm_run(["tour", "--topology", "x.yaml", "--results", str(tmp_path)])
    printed = capsys.readouterr()
    assert status == 2 and ran == [] and not tmp_path.joinpath("tour").exists()
    assert printed.out == "" and printed.err == (
        "cnm run: ERROR: tour takes no --topology (it is for: isolation)\n")
    assert _cnm_run(["tour", "--param", "speed=3", "--results", str(tmp_path)]) == 2
    assert "tour takes no --param speed\n" in capsys.readouterr().err
    status = _cnm_run(["isolation", "--topology", str(tmp_path / "none.yaml")])
    assert status == 2 and ran == []
    assert capsys.readouterr().err.endswith("none.yaml: No such file or directory\n")


def test_a_param_some_selected_experiment_takes_goes_to_all(monkeypatch, tmp_path):
    seen = {}

    def record(ctx: RunContext) -> Outcome:
        seen[ctx.experiment] = ctx.params.get("lab")
        ctx.finish(Outcome(True, "fine"), "# x\n")
        return Outcome(True, "fine")

    _fake(monkeypatch, tour=(record, ("lab",)), conformance=(record, ()))
    assert _cnm_run(["tour", "conformance", "--param", "lab=qt9", "--results",
                     str(tmp_path)]) == 0
    assert seen == {"tour": "qt9", "conformance": "qt9"}


def test_an_unknown_experiment_is_an_error(monkeypatch, tmp_path, capsys):
    _fake(monkeypatch, tour=(_noisy, ()))
    assert _cnm_run(["nope", "--results", str(tmp_path)]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


def test_plain_lines_without_a_terminal_say_name_elapsed_and_step():
    out = io.StringIO()
    terminal = PlainTerminal(out)
    terminal.begin("tour", "the tour", None)
    terminal.step("tour", "bringing up the default lab")
    terminal.end("tour", "ok", 1.0)
    terminal.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert lines[0].split() == ["tour", "0s", "bringing", "up", "the", "default", "lab"]
    assert lines[1].split() == ["tour", "0s", "ok"]


def test_plain_lines_come_at_most_every_so_often_per_experiment():
    out = io.StringIO()
    terminal = PlainTerminal(out, every_s=3600)
    terminal.begin("isolation", "isolation", None)
    for step in ("probing", "dns section", "published section", "overlay section"):
        terminal.step("isolation", step)
    terminal.end("isolation", "ok", 1.0)
    assert [line.split()[2] for line in out.getvalue().splitlines()] == ["probing", "ok"]


def test_the_live_display_keeps_one_line_per_experiment():
    pytest.importorskip("rich")
    out = io.StringIO()
    terminal = LiveTerminal(out)
    terminal.console.force_terminal = False  # no redraws in a StringIO: the final frame
    terminal.begin("tour", "the tour", 40.0)
    terminal.step("tour", "replaying the walkthrough")
    terminal.end("tour", "ok", 12.0)
    terminal.begin("isolation", "the isolation one", None)
    terminal.end("isolation", "ERROR: no lab [bold] [0.027, 0.030]", 1.0)  # not markup
    terminal.close()
    final = [line for line in out.getvalue().splitlines() if line.strip()]
    assert any("tour" in line and line.rstrip().endswith("ok") for line in final)
    assert any("isolation" in line and "ERROR: no lab [bold] [0.027, 0.030]" in line
               for line in final)


def test_the_time_left_comes_from_the_latest_finished_run(tmp_path):
    assert expected_seconds(tmp_path, "tour") is None
    for run_id, took in (("20260101T000000Z-aaaa", 30.0), ("20260102T000000Z-bbbb", 42.5)):
        (tmp_path / "tour" / run_id).mkdir(parents=True)
        (tmp_path / "tour" / run_id / "meta.json").write_text(json.dumps({"duration_s": took}))
    (tmp_path / "tour" / "20260103T000000Z-cccc").mkdir()  # running: no meta.json yet
    assert expected_seconds(tmp_path, "tour") == 42.5


def test_a_failure_on_the_way_is_named_by_its_type():
    from emulator.experiments.runner import one_line

    assert one_line(FileNotFoundError(2, "No such file or directory", "iperf3")) == (
        "FileNotFoundError: [Errno 2] No such file or directory: 'iperf3'")


def test_the_kit_hands_its_pytest_output_over_instead_of_printing_it(
        monkeypatch, tmp_path, capsys):
    import subprocess

    from emulator.conformance import registry, reports, runner

    def pytest_run(argv, **kwargs):
        assert kwargs["capture_output"] is True
        result = reports.skipped_driver("null", "", registry.all_checks())
        result.update(status="ran", started="2025-01-01T00:00:00")
        reports.write_driver_results(tmp_path / "run", result)
        return subprocess.CompletedProcess(argv, 0, "test_x PASSED\n" * 50, "")

    monkeypatch.setattr(runner.subprocess, "run", pytest_run)
    handed, steps = {}, []
    runner.run_kit([runner.DriverRun("null")], tmp_path / "run", progress=steps.append,
                   output=handed.__setitem__)
    assert handed["null"].count("PASSED") == 50
    assert "PASSED" not in capsys.readouterr().out
    assert steps[0] == "conformance of null" and steps[1].startswith("null: ")
