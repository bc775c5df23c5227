"""bench-bringup's parameters and its real-Docker section, without building a lab."""

from __future__ import annotations

import pytest

from emulator import cli
from emulator.experiments import bench_bringup, bringup_engines, runner
from emulator.experiments.bringup_engines import EngineComparison, Pass, summary_section
from emulator.experiments.registry import Experiment
from emulator.experiments.results import Outcome, RunContext


def _pass(interface: str, engine: str, ready_s: float, running: int = 10) -> Pass:
    return Pass(interface, engine, 10, ready_s / 2, ready_s, ready_s / 4, running, 10, 10)


COMPARISON = EngineComparison([
    _pass("engine-api", "emulated", 0.5), _pass("engine-api", "docker", 2.0),
    _pass("docker-cli", "emulated", 1.0), _pass("docker-cli", "docker", 3.0, running=9),
])


def test_cnm_run_hands_each_param_to_the_experiment(monkeypatch, tmp_path):
    seen = {}

    def probe(ctx: RunContext) -> Outcome:
        seen.update(ctx.params)
        ctx.finish(Outcome(True, "fine"), "# probe\n")
        return Outcome(True, "fine")

    monkeypatch.setattr(runner, "experiments",
                        lambda: {"probe": Experiment("probe", "benchmark", "probe", probe,
                                                     ("api_count", "cli_count"))})
    args = cli.build_parser().parse_args(
        ["run", "probe", "--results", str(tmp_path), "--param", "api_count=7",
         "--param", "cli_count=3"])
    assert args.func(args) == 0
    assert seen == {"topology": "<default>", "api_count": "7", "cli_count": "3"}


def test_a_param_without_a_value_is_refused():
    args = cli.build_parser().parse_args(["run", "probe", "--param", "api_count"])
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        args.func(args)


def test_counts_come_from_the_params_or_the_defaults():
    assert bench_bringup.count_param({}, "api_count", 100) == 100
    assert bench_bringup.count_param({"api_count": "7"}, "api_count", 100) == 7
    for bad in ("0", "-3", "many"):
        with pytest.raises(ValueError, match="api_count"):
            bench_bringup.count_param({"api_count": bad}, "api_count", 100)


def test_csv_rows_share_one_set_of_columns():
    rows = bench_bringup.tidy([{"method": "emulator", "reachable": 100},
                               COMPARISON.passes[1].row()])
    assert list(rows[0]) == list(rows[1])
    assert rows[0]["engine"] == "" and rows[1]["method"] == "docker-engine-api"


def test_the_summary_sets_real_beside_emulated_with_the_ratio():
    text = summary_section(COMPARISON)
    assert "| engine-api | 10 | 0.500 | 2.000 | 4.0x | 50 | 200 |" in text
    assert "| docker-cli | 10 | 1.000 | 3.000 | 3.0x | 100 | 300 |" in text
    figures = bench_bringup.engine_figures(COMPARISON)
    assert figures["real_over_emulated_api"] == 4.0
    assert figures["docker_docker_cli_s"] == 3.0


def test_a_container_not_running_fails_its_check():
    verdicts = {(c.step, c.what): c.ok for c in bench_bringup.engine_checks(COMPARISON)}
    assert verdicts[("docker-cli", "docker: running and reachable")] is False
    assert sum(verdicts.values()) == 3


def test_without_real_docker_the_part_is_skipped_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(bringup_engines.realdocker, "available", lambda: "no dockerd here")
    monkeypatch.setattr(bringup_engines, "Lab", None)  # nothing may be built
    result = bringup_engines.compare_engines("bbskip", 5, 5, RunContext("x", tmp_path, {}))
    assert result.passes == [] and result.skipped == "no dockerd here"
    assert "Skipped: no dockerd here." in summary_section(result)
    assert "real Docker skipped (no dockerd here)" in bench_bringup.engines_headline(result)
    assert bench_bringup.engine_checks(result) == []
