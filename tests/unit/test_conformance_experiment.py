"""The `conformance` experiment: registered for `cnm run`, fails when a check fails."""

from __future__ import annotations

import json

import pytest

from emulator.conformance import reports
from emulator.conformance.registry import all_checks
from emulator.conformance.runner import EVERY_DRIVER, RunSummary
from emulator.experiments import conformance
from emulator.experiments.registry import experiments
from emulator.experiments.results import RunContext


def test_it_is_an_experiment_cnm_run_runs_by_default():
    exp = experiments()["conformance"]
    assert exp.kind == "experiment"
    assert set(EVERY_DRIVER) == {"bridge", "host", "null", "macvlan", "overlay", "mesh"}


def _fake_kit(outcome_of: dict[str, str]):
    def run_kit(runs, run_dir, extra=(), capture=False, progress=print, output=None):
        assert [r.driver for r in runs] == list(EVERY_DRIVER)
        for k, run in enumerate(runs):
            result = reports.skipped_driver(run.driver, "not run", all_checks())
            result.update(status="ran", started=f"2025-01-01T00:00:0{k}", duration_s=1.0)
            result["checks"][0].update(outcome=outcome_of.get(run.driver, "passed"),
                                       reason="why")
            reports.write_driver_results(run_dir, result)
        return RunSummary(run_dir, reports.load_run(run_dir), {r.driver: 1.0 for r in runs},
                          reports.write_reports(run_dir))

    return run_kit


@pytest.mark.parametrize(("outcomes", "ok"), [({}, True), ({"overlay": "failed"}, False),
                                              ({"mesh": "error"}, False)])
def test_the_run_fails_exactly_when_a_check_fails(tmp_path, monkeypatch, outcomes, ok):
    monkeypatch.setattr(conformance, "run_kit", _fake_kit(outcomes))
    ctx = RunContext("conformance", tmp_path, {})
    outcome = conformance.run(ctx)
    assert outcome.ok is ok
    assert ctx.dir == tmp_path / "conformance" / ctx.run_id
    assert (ctx.dir / "report.md").exists() and (ctx.dir / "junit.xml").exists()
    assert json.loads((ctx.dir / "meta.json").read_text())["ok"] is ok
    bad = [c for c in outcome.checks if not c.ok]
    assert len(bad) == len(outcomes)
    assert "bridge 1 passed" in outcome.headline
    assert outcome.verdict == ("ok" if ok else "DIFFERS")


def test_a_driver_whose_kit_broke_down_makes_the_run_an_error(tmp_path, monkeypatch):
    kit = _fake_kit({})

    def broken_kit(runs, run_dir, **kwargs):
        summary = kit(runs, run_dir)
        summary.results[1].update(status="error", reason="pytest exited with status 4\nbefore")
        return summary

    monkeypatch.setattr(conformance, "run_kit", broken_kit)
    outcome = conformance.run(RunContext("conformance", tmp_path, {}))
    assert outcome.verdict == "ERROR"
    assert outcome.error == "the kit could not run for host: pytest exited with status 4 before"


def test_a_driver_pytest_skipped_whole_is_reported_skipped_without_a_time(
        tmp_path, monkeypatch, capsys):
    from emulator.conformance import runner
    from emulator.conformance.targets import MESH_MISSING

    def pytest_run(argv, **kwargs):  # what the kit's pytest writes when mesh is missing
        assert "--cnm-driver" in argv and "junit_suite_name=cnm-conformance.mesh" in argv
        result = reports.skipped_driver("mesh", MESH_MISSING, all_checks())
        result["started"] = "2025-01-01T00:00:00"
        reports.write_driver_results(tmp_path / "run", result)

    monkeypatch.setattr(runner.subprocess, "run", pytest_run)
    summary = runner.run_kit([runner.DriverRun("mesh")], tmp_path / "run")
    (result,) = summary.results
    assert result["status"] == "skipped" and summary.ok and summary.wall_s == {}
    assert f"==> mesh: skipped ({MESH_MISSING})" in capsys.readouterr().out
    assert "not run: " + MESH_MISSING in summary.paths["markdown"].read_text()
