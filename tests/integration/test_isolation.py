"""The isolation and host-ports experiments end to end, and the matrix's stability."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
from conftest import lab_name, run_cnm

from emulator import Lab
from emulator.experiments.isolation import default_topology_path, measure
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
    assert "icmp diff" in done.stdout and "!" not in done.stdout.split("icmp diff")[1][:2000]


def test_twenty_reruns_give_the_same_table(isolation_lab):
    tables = []
    for _ in range(20):
        cells, _ = measure(isolation_lab)
        assert not [c for c in cells if c.wrong]
        tables.append(sorted((c.source, c.target, c.protocol, c.observed) for c in cells))
    assert all(table == tables[0] for table in tables)


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
        rows = {r["step"]: r["observed"] for r in csv.DictReader(handle)}
    assert rows == {"host": "Address already in use", "bridge": "bound"}
