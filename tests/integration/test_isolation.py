"""The isolation and host-ports experiments end to end, the matrix's stability, and
the isolation experiment's overlay section (a two-host swarm on the same lab)."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
from conftest import lab_name, run_cnm

from emulator import Lab
from emulator.experiments.isolation import default_topology_path, measure, measure_overlays
from emulator.fabric.netns import Namespace
from emulator.probes import ARP, ProbeEngine, ProbeTarget, Verdict


@pytest.fixture(scope="module")
def isolation_lab():
    with Lab.load(default_topology_path(), lab_name()) as lab:
        yield lab


def test_cnm_run_isolation_agrees_with_docker_and_writes_everything(tmp_path):
    done = run_cnm("run", "isolation", "--results", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    (run_dir,) = (tmp_path / "isolation").iterdir()
    with (run_dir / "matrix.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["protocol"] for r in rows} == {"icmp", "tcp", "udp", "arp"}
    assert all(r["expected"] == r["observed"] for r in rows)
    assert {"reached", "blocked"} <= {r["observed"] for r in rows}
    assert (run_dir / "heatmap.png").stat().st_size > 10_000
    pcaps = list(run_dir.glob("probes-*.pcap"))
    assert len(pcaps) >= 10 and all(p.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1" for p in pcaps)
    assert json.loads((run_dir / "meta.json").read_text())["ok"] is True
    tables = (run_dir / "truth-tables.txt").read_text()
    assert "icmp diff" in tables and " !" not in tables.split("icmp diff")[1][:2000]
    with (run_dir / "overlay_matrix.csv").open() as handle:
        overlay = list(csv.DictReader(handle))
    assert {r["protocol"] for r in overlay} == {"icmp", "tcp", "udp", "arp"}
    assert all(r["expected"] == r["observed"] for r in overlay)
    assert {"h1/o1a", "h2/o1b", "h1/o2a", "h2/o2b"} <= {r["source"] for r in overlay}
    assert (run_dir / "overlay_heatmap.png").stat().st_size > 10_000
    assert list((run_dir / "overlay").glob("probes-*.pcap"))
    figures = json.loads((run_dir / "meta.json").read_text())["figures"]
    assert figures["overlay_cells"] == len(overlay) and figures["overlay_wrong"] == 0
    summary = (run_dir / "summary.md").read_text()
    assert "## Overlay section" in summary and "overlay_heatmap.png" in summary


def test_twenty_reruns_give_the_same_table(isolation_lab):
    tables = []
    for _ in range(20):
        cells, _ = measure(isolation_lab)
        assert not [c for c in cells if c.wrong]
        tables.append(sorted((c.source, c.target, c.protocol, c.observed) for c in cells))
    assert all(table == tables[0] for table in tables)


def _cnm_state(lab) -> dict[str, object]:
    return {name: (sorted(n.name for n in host.engine.networks.values()),
                   sorted(c.name for c in host.engine.containers.values()),
                   host.engine.swarm, host.engine.check())
            for name, host in lab.hosts.items()}


@pytest.fixture(scope="module")
def overlay_runs(isolation_lab):
    """The overlay section three times on the isolation lab, each set up and undone."""
    before = _cnm_state(isolation_lab)
    runs = []
    for _ in range(3):
        cells, _, vips = measure_overlays(isolation_lab)
        assert _cnm_state(isolation_lab) == before, "the overlay section was not undone"
        runs.append((cells, vips))
    return runs


def test_overlay_section_agrees_with_docker_and_is_stable(overlay_runs, isolation_lab):
    for cells, _ in overlay_runs:
        assert {c.protocol for c in cells} == {"icmp", "tcp", "udp", "arp"}
        assert not [c for c in cells if c.wrong]
    tables = [sorted((c.source, c.target, c.protocol, c.observed) for c in cells)
              for cells, _ in overlay_runs]
    assert all(table == tables[0] for table in tables)
    cells, _ = measure(isolation_lab)
    assert not [c for c in cells if c.wrong], "the main matrix after the overlay section"


SAME_OVERLAY = [("h1/o1a", "h2/o1b@ov1"), ("h2/o1b", "h1/o1a@ov1"), ("h1/o2a", "h2/o2b@ov2"),
                ("h2/o2b", "h1/o2a@ov2"), ("h1/o1l", "h2/o1b@ov1"), ("h1/o1a", "h1/o1l@ov1")]
OTHER_OVERLAY = [("h1/o1a", "h2/o2b@ov2"), ("h1/o1a", "h1/o2a@ov2"), ("h2/o1b", "h1/o2a@ov2"),
                 ("h2/o2b", "h2/o1b@ov1"), ("h2/o2b", "h1/o1l@ov1")]


@pytest.mark.parametrize("protocol", ["icmp", "tcp", "udp", "arp"])
def test_overlay_reaches_across_hosts_and_not_across_overlays(overlay_runs, protocol):
    observed = {(c.source, c.target): c.observed for c in overlay_runs[0][0]
                if c.protocol == protocol}
    for pair in SAME_OVERLAY:
        assert observed[pair] is Verdict.REACHED, (pair, protocol)
    for pair in OTHER_OVERLAY:
        assert observed[pair] is Verdict.BLOCKED, (pair, protocol)
    # docker_gwbridge has ICC off: IP between its containers is dropped, ARP is not
    gwbridge = observed[("h1/o1a", "h1/o2a@docker_gwbridge")]
    assert gwbridge is (Verdict.REACHED if protocol == "arp" else Verdict.BLOCKED)
    # no Docker host has an address on an overlay; each is on its own docker_gwbridge
    assert observed[("h1", "h1/o1a@ov1")] is Verdict.BLOCKED
    assert observed[("h2", "h2/o1b@docker_gwbridge")] is Verdict.REACHED


def test_arp_verdicts_agree_with_arping(isolation_lab):
    h1 = isolation_lab.host("h1")
    f1, f2, b1, q1, q2 = (h1.containers.get(n) for n in ("f1", "f2", "b1", "q1", "q2"))
    pairs = [(f1, f2), (f1, b1), (q1, q2)]
    engine = ProbeEngine(window=0.5)
    results = engine.run([ProbeTarget(s.name, s.pid, None) for s, _ in pairs],
                         [ProbeTarget(d.name, d.pid, d.ip()) for _, d in pairs], [ARP])
    verdicts = {(r.source, r.target): r.verdict for r in results}
    for src, dst in pairs:
        ns = Namespace.of_pid(src.pid)
        try:
            with ns.entered():
                arping = subprocess.run(["arping", "-c", "1", "-w", "1", "-I", "eth0",
                                         str(dst.ip())], capture_output=True, text=True)
        finally:
            ns.close()
        assert (verdicts[(src.name, dst.name)] is Verdict.REACHED) == (arping.returncode == 0)
    assert verdicts[("q1", "q2")] is Verdict.REACHED, "ICC off blocks IP, not ARP, as on Docker"


def test_cnm_run_host_ports(tmp_path):
    done = run_cnm("run", "host-ports", "--results", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "host-ports").iterdir()
    with (run_dir / "binds.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    binds = {r["step"]: r["observed"] for r in rows if r["step"] in ("host", "bridge")}
    assert binds == {"host": "Address already in use", "bridge": "bound"}
    publish = {r["what"]: r["observed"] for r in rows if r["step"].startswith("publish")}
    assert "port is already allocated" in publish[
        "second container publishing the same host port 8080"]
    assert publish["a third publishing another host port 8081"] == "started"
    assert all(r["ok"] == "True" for r in rows)


def test_a_service_vip_is_reached_by_name_from_its_overlay_only(overlay_runs):
    """svc1 on ov1: containers on ov1 resolve it (and tasks.svc1) and reach its VIP;
    those only on ov2 get no address and do not reach it."""
    for _, vips in overlay_runs:
        assert vips and [c for c in vips if c.wrong] == []
        by = {(c.source, c.target.split()[0]): c.observed for c in vips}
        for source in ("h1/o1a", "h2/o1b", "h1/o1l"):
            assert by[(source, "VIP")] == "reached"
            assert by[(source, "svc1")] != "no address"
            assert len(by[(source, "tasks.svc1")].split()) == 2
        for source in ("h1/o2a", "h2/o2b"):
            assert by[(source, "VIP")] == "blocked"
            assert by[(source, "svc1")] == by[(source, "tasks.svc1")] == "no address"
