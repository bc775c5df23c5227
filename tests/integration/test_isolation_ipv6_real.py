"""The dual-stack failure on a real dockerd 20.10, and the lab's cure for it.

Debian's dockerd 20.10 programs no IPv6 firewall unless run with `--experimental
--ip6tables` (docs/ipv6.md): two dual-stack bridge networks are apart over IPv4,
while the host routes IPv6 between them. The isolation matrix, judging by Docker
28's rules, must report exactly those IPv6 cells as leaks, and only them. Started
as the lab starts it (with both options, as Docker 28 behaves by default), the
same dockerd keeps IPv6 apart as well, and the matrix finds no leak.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import docker
import pytest
import yaml

from emulator import Lab
from emulator.experiments.isolation import measure
from emulator.lab import realdocker
from emulator.probes.apistate import read_lab
from emulator.probes.matrix import leaks
from emulator.probes.model import IPV4, IPV6, Verdict

pytestmark = pytest.mark.skipif(realdocker.available() is not None,
                                reason=realdocker.available() or "")

NETWORKS = {"front": ("10.31.0.0/24", "fd00:31::/64"), "back": ("10.32.0.0/24", "fd00:32::/64")}
CONTAINERS = {"f1": "front", "f2": "front", "b1": "back"}
IP6TABLES_OPTIONS = ("--experimental", "--ip6tables")


def measure_real_lab(tmp_path: Path) -> list:
    topology = tmp_path / "real6.yaml"
    topology.write_text(yaml.safe_dump({
        "name": "real6", "underlay": {"subnet": "192.0.2.0/24"},
        "hosts": {"h1": {"engine": "docker"}}}))
    with Lab.load(topology, "p6" + secrets.token_hex(3)) as lab:
        client = docker.DockerClient(base_url=lab.docker_host_url("h1"), version="1.41")
        for name, subnets in NETWORKS.items():
            pools = [docker.types.IPAMPool(subnet=subnet) for subnet in subnets]
            client.networks.create(name, enable_ipv6=True,
                                   ipam=docker.types.IPAMConfig(pool_configs=pools))
        for name, network in CONTAINERS.items():
            client.containers.run("alpine", ["sleep", "infinity"], name=name, network=network,
                                  detach=True)
        cells, _ = measure(lab, containers=[f"h1/{n}" for n in CONTAINERS],
                           state=read_lab(lab))
    return cells


def between_networks(cells) -> dict:
    return {(c.source, c.target, c.protocol, c.family): c for c in cells
            if {c.source, c.target} in ({"h1/f1", "h1/b1"}, {"h1/f2", "h1/b1"})}


def test_dockerd_20_10_without_ip6tables_leaks_ipv6_and_the_matrix_says_so(
        tmp_path: Path, monkeypatch):
    argv = realdocker.RealDockerd.argv
    monkeypatch.setattr(realdocker.RealDockerd, "argv", lambda self: [
        arg for arg in argv(self) if arg not in IP6TABLES_OPTIONS])
    cells = measure_real_lab(tmp_path)
    between = between_networks(cells)
    for (_, _, protocol, family), cell in between.items():
        if family == IPV4 or protocol == "ndp":
            assert (cell.observed, cell.wrong) == (Verdict.BLOCKED, False), cell
        else:
            assert (cell.observed, cell.wrong) == (Verdict.REACHED, True), cell
    leaked = {(v6.source, v6.target, v6.protocol) for _, v6 in leaks(cells)}
    assert leaked == {(s, t, p) for s, t, p, f in between
                      if f == IPV6 and p in ("icmp", "tcp", "udp")}
    same = [c for c in cells if c.family == IPV6 and {c.source, c.target} == {"h1/f1", "h1/f2"}]
    assert same and all(c.observed is Verdict.REACHED and not c.wrong for c in same)


def test_dockerd_20_10_as_the_lab_starts_it_keeps_ipv6_apart(tmp_path: Path):
    cells = measure_real_lab(tmp_path)
    between = between_networks(cells)
    assert {f for *_, f in between} == {IPV4, IPV6}
    assert all(c.observed is Verdict.BLOCKED for c in between.values()), between
    assert not leaks(cells)
    same = [c for c in cells if c.family == IPV6 and {c.source, c.target} == {"h1/f1", "h1/f2"}]
    assert same and all(c.observed is Verdict.REACHED for c in same)
