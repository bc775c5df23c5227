"""The isolation matrix's IPv6 cells on emulated dual-stack networks: the emulator
does not have the failure Docker 20.10 had (isolated over IPv4, open over IPv6).

Two dual-stack bridge networks made through the engine (`--ipv6 --subnet ...`):
every IPv6 cell is as Docker 28 has it, the same as its IPv4 twin, and no cell
isolated over IPv4 is reached over IPv6. (The matrix reporting such a leak on real
packets is tested against a real dockerd 20.10 in test_isolation_ipv6_real.py.)
"""

from __future__ import annotations

import secrets

import pytest

from emulator import Lab
from emulator.experiments.isolation import measure
from emulator.probes.apistate import read_lab
from emulator.probes.matrix import leaks
from emulator.probes.model import IPV4, IPV6, Verdict

NETWORKS = {"front": ("10.41.0.0/24", "fd00:a::/64"), "back": ("10.42.0.0/24", "fd00:b::/64")}
CONTAINERS = {"f1": "front", "f2": "front", "b1": "back"}
NAMES = [f"h1/{name}" for name in CONTAINERS]


@pytest.fixture(scope="module")
def cells():
    with Lab.default("p6" + secrets.token_hex(3)) as lab:
        h1 = lab.host("h1")
        for name, (subnet, subnet6) in NETWORKS.items():
            h1.networks.create(name, subnet=subnet, ipv6=True, subnet6=subnet6)
        for name, network in CONTAINERS.items():
            h1.containers.run(name, network=network)
        measured, _ = measure(lab, containers=NAMES, state=read_lab(lab))
        yield measured


def cell(cells, source, target, protocol, family):
    return next(c for c in cells if (c.source, c.target, c.protocol, c.family) == (
        source, target, protocol, family))


def test_every_ipv6_cell_is_as_docker_and_as_its_ipv4_twin(cells):
    six = [c for c in cells if c.family == IPV6]
    assert {c.protocol for c in six} == {"icmp", "tcp", "udp", "ndp"}
    assert not [c for c in cells if c.wrong], [c for c in cells if c.wrong]
    assert cell(cells, "h1/f1", "h1/f2", "icmp", IPV6).observed is Verdict.REACHED
    assert cell(cells, "h1/f1", "h1/f2", "ndp", IPV6).evidence.startswith("neighbour-advert")
    assert cell(cells, "h1", "h1/b1", "icmp", IPV6).observed is Verdict.REACHED
    for protocol in ("icmp", "tcp", "udp"):
        v4 = cell(cells, "h1/f1", "h1/b1", protocol, IPV4)
        v6 = cell(cells, "h1/f1", "h1/b1", protocol, IPV6)
        assert v4.observed is v6.observed is Verdict.BLOCKED


def test_no_cell_isolated_over_ipv4_is_reached_over_ipv6(cells):
    assert not leaks(cells)
