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
    def run_kit(runs, run_dir, extra=(), capture=False):
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


def test_mesh_is_reported_skipped_while_it_is_not_installed(tmp_path, monkeypatch):
    from emulator.conformance import runner

    monkeypatch.setattr(runner, "mesh_available", lambda: False)
    monkeypatch.setattr(runner.subprocess, "run", lambda *a, **k: pytest.fail("ran pytest"))
    summary = runner.run_kit([runner.DriverRun("mesh")], tmp_path / "run")
    (result,) = summary.results
    assert result["status"] == "skipped" and summary.ok
    assert {c["reason"] for c in result["checks"]} == {runner.MESH_MISSING}
    assert "not run: " + runner.MESH_MISSING in summary.paths["markdown"].read_text()
