"""A few hundred networks on one Docker host (issue 12, finding 5).

Every network create used to render and reload the host's whole nft ruleset
(0.22 s at 300 networks against a few ms at 10), and `lab down` removed the
networks one by one, each with another reload (47 s at 317 networks). Here the
300th create costs what the 10th does, the kernel's firewall holds exactly the
networks' bridges, and the lab goes down in seconds.
"""

from __future__ import annotations

import re
import statistics
import time
from ipaddress import IPv4Address, IPv4Network

from conftest import lab_name

from emulator import Lab
from emulator.topology import HostSpec, OutsideSpec, Topology, UnderlaySpec

NETWORKS = 300
DOWN_S = 10.0


def one_host() -> Topology:
    underlay = IPv4Network("192.0.2.0/24")
    return Topology(lab_name(), UnderlaySpec(underlay), OutsideSpec(IPv4Address("192.0.2.254")),
                    (HostSpec("h1", underlay[11]),))


def test_create_at_300_networks_costs_what_it_does_at_10_and_down_takes_seconds() -> None:
    lab = Lab(one_host())
    lab.start()
    try:
        host = lab.host("h1")
        took, bridges = [], []
        for i in range(1, NETWORKS + 1):
            started = time.perf_counter()
            network = host.networks.create(f"n{i}", subnet=f"10.{i // 256}.{i % 256}.0/24")
            took.append(time.perf_counter() - started)
            bridges.append(network.bridge)
        early, late = statistics.median(took[10:30]), statistics.median(took[-20:])
        assert late <= max(2 * early, early + 0.002), (early, late)
        listed = host.exec(["nft", "list", "set", "inet", "cnm", "bridges"]).stdout
        assert sorted(re.findall(r'"([^"]+)"', listed)) == sorted([*bridges, "docker0"])
        started = time.perf_counter()
    finally:
        lab.stop()
    assert time.perf_counter() - started <= DOWN_S
