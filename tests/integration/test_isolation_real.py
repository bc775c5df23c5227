"""The isolation experiment on hosts running a real dockerd 20.10 (`engine: docker`):
`cnm run isolation` with such hosts runs the main matrix and the overlay section (a
real two-node swarm with attachable overlays, through the Engine API), every cell as
Docker; and the overlay section, run twice on one lab, gives the same verdicts as on
emulated hosts and leaves the lab as it was (Engine API state and host links)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from conftest import lab_name, run_cnm

from emulator import Lab
from emulator.experiments.isolation import (
    OVERLAY_CONTAINERS,
    default_topology_path,
    measure,
    measure_overlays,
)
from emulator.lab import realdocker
from emulator.probes import Verdict
from emulator.topology import read_topology

pytestmark = pytest.mark.skipif(realdocker.available() is not None,
                                reason=realdocker.available() or "")


def real_topology(path: Path) -> Path:
    """The default isolation topology with every host on `engine: docker`."""
    data = yaml.safe_load(Path(default_topology_path()).read_text())
    for host in data["hosts"].values():
        host["engine"] = "docker"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cnm_run_isolation_on_real_hosts_runs_the_overlay_section(tmp_path):
    topology = real_topology(tmp_path / "real.yaml")
    done = run_cnm("run", "isolation", "--topology", str(topology), "--results",
                   str(tmp_path), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    (run_dir,) = (tmp_path / "isolation").iterdir()
    with (run_dir / "overlay_matrix.csv").open() as handle:
        overlay = list(csv.DictReader(handle))
    assert {r["protocol"] for r in overlay} == {"icmp", "tcp", "udp", "arp"}
    assert {f"{h}/{n}" for h, n, _ in OVERLAY_CONTAINERS} <= {r["source"] for r in overlay}
    assert all(r["expected"] == r["observed"] for r in overlay)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["ok"] is True
    assert meta["figures"]["overlay_cells"] == len(overlay) > 300
    assert meta["figures"]["overlay_wrong"] == 0
    assert "## Overlay section" in (run_dir / "summary.md").read_text()


def _host_state(lab) -> dict[str, object]:
    """What a user would look at: networks, containers, swarm state, the host's links."""
    state = {}
    for name, host in lab.hosts.items():
        client = host.client
        links = host.exec(["ip", "-o", "link", "show"]).stdout.splitlines()
        state[name] = (sorted(n["Name"] for n in client.api.networks()),
                       sorted(c["Names"][0] for c in client.api.containers(all=True)),
                       client.info()["Swarm"]["LocalNodeState"],
                       sorted(line.split(":")[1].strip().split("@")[0] for line in links))
    return state


def _verdicts(cells) -> list[tuple[str, str, str, Verdict, Verdict]]:
    return sorted((c.source, c.target, c.protocol, c.expected, c.observed) for c in cells)


@pytest.fixture(scope="module")
def real_and_emulated_runs():
    """The overlay section twice on a lab of real hosts, once on the same lab emulated."""
    topology = read_topology(default_topology_path())
    with Lab(topology, lab_name(), engine="docker") as lab:
        before = _host_state(lab)
        real = []
        for _ in range(2):
            cells, _, vips = measure_overlays(lab)
            assert _host_state(lab) == before, "the overlay section was not undone"
            assert [c for c in vips if c.wrong] == [], vips
            real.append(cells)
        main, _ = measure(lab)
    with Lab(topology, lab_name()) as lab:
        emulated, _, _ = measure_overlays(lab)
    return real, emulated, main


def test_overlay_section_on_real_hosts_agrees_with_docker_and_the_emulator(
        real_and_emulated_runs):
    real, emulated, main = real_and_emulated_runs
    for cells in real:
        assert {c.protocol for c in cells} == {"icmp", "tcp", "udp", "arp"}
        assert [c for c in cells if c.wrong] == []
    assert _verdicts(real[0]) == _verdicts(real[1]) == _verdicts(emulated)
    assert [c for c in main if c.wrong] == [], "the main matrix after the overlay section"


def test_real_overlay_reaches_across_hosts_not_across_overlays(real_and_emulated_runs):
    observed = {(c.source, c.target, c.protocol): c.observed
                for c in real_and_emulated_runs[0][0]}
    for protocol in ("icmp", "tcp", "udp", "arp"):
        assert observed[("h1/o1a", "h2/o1b@ov1", protocol)] is Verdict.REACHED
        assert observed[("h2/o2b", "h1/o2a@ov2", protocol)] is Verdict.REACHED
        assert observed[("h1/o1a", "h2/o2b@ov2", protocol)] is Verdict.BLOCKED
        assert observed[("h1", "h1/o1a@ov1", protocol)] is Verdict.BLOCKED
        assert observed[("h2", "h2/o1b@docker_gwbridge", protocol)] is Verdict.REACHED
    # docker_gwbridge has ICC off: IP between its containers is dropped, ARP is not
    assert observed[("h1/o1a", "h1/o2a@docker_gwbridge", "icmp")] is Verdict.BLOCKED
    assert observed[("h1/o1a", "h1/o2a@docker_gwbridge", "arp")] is Verdict.REACHED
