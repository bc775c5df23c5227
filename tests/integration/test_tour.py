"""`cnm run` end to end: the tour experiment on the default lab writes its results."""

from __future__ import annotations

import csv
import json

from conftest import run_cnm


def test_cnm_run_tour_agrees_with_docker_and_writes_results(tmp_path):
    done = run_cnm("run", "tour", "--results", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tour" in done.stdout and "ok" in done.stdout
    (run_dir,) = (tmp_path / "tour").iterdir()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["ok"] is True and meta["versions"]["kernel"]
    with (run_dir / "observations.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 10 and all(row["ok"] == "True" for row in rows)
    steps = {row["step"] for row in rows}
    assert {"2 --network host", "3 --network none", "6 two bridges", "7 host ports"} <= steps
    assert "walkthrough" in (run_dir / "summary.md").read_text()


def test_predefined_networks_on_every_host(lab):
    for name in ("h1", "h2"):
        host = lab.host(name)
        nets = {n.name: n.inspect() for n in host.networks.list()}
        assert {k: v["Driver"] for k, v in nets.items()} == {
            "bridge": "bridge", "host": "host", "none": "null"}
        assert nets["bridge"]["IPAM"]["Config"] == [
            {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]
        assert nets["bridge"]["Options"]["com.docker.network.bridge.name"] == "docker0"
