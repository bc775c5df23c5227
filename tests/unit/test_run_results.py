"""Where runs write: one run id and one meta.json for experiments and the conformance kit."""

from __future__ import annotations

import json
import re

from emulator.conformance import reports
from emulator.experiments.results import Outcome, RunContext
from emulator.results import new_run_id, run_dir

RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")


def test_a_run_id_is_its_utc_start_and_four_hex_digits():
    ids = {new_run_id() for _ in range(20)}
    assert all(RUN_ID.match(i) for i in ids)
    assert len(ids) > 1


def test_experiments_and_the_kit_lay_runs_out_alike(tmp_path):
    ctx = RunContext("tour", tmp_path, {"topology": "<default>"})
    assert ctx.dir == tmp_path / "tour" / ctx.run_id and ctx.dir.is_dir()
    assert RUN_ID.match(ctx.run_id)
    kit = run_dir(tmp_path, reports.KIND)
    assert kit.parent == tmp_path / "conformance" and RUN_ID.match(kit.name)
    assert not kit.exists(), "a kit's run directory is made when results are written"
    assert run_dir(tmp_path, "conformance", "given").name == "given"


def test_meta_json_records_the_run_then_the_versions(tmp_path):
    ctx = RunContext("tour", tmp_path, {"topology": "<default>", "seed": 7})
    ctx.finish(Outcome(True, "fine", figures={"x": 1.5}), "# summary\n")
    meta = json.loads((ctx.dir / "meta.json").read_text())
    assert list(meta) == ["experiment", "run_id", "parameters", "seed", "started", "finished",
                          "duration_s", "ok", "verdict", "figures", "versions"]
    assert (meta["experiment"], meta["run_id"], meta["seed"], meta["ok"]) == (
        "tour", ctx.run_id, 7, True)
    assert meta["figures"] == {"x": 1.5}
    assert {"python", "kernel", "cnm-emulator", "scapy", "iproute2", "nftables",
            "mininet"} == set(meta["versions"])
    assert (ctx.dir / "summary.md").read_text() == "# summary\n"
