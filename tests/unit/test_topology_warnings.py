"""`cnm topology check` keeps Docker's verdict on a subnet and warns, with the file's line,
when it overlaps the lab's underlay or LAN, multicast, loopback or link-local."""

from __future__ import annotations

import pytest

from emulator.lab.dryrun import check_topology
from emulator.topology import TopologyError, read_topology_text

TOPOLOGY = """\
name: warn
lan: {subnet: 198.51.100.0/24}
hosts:
  h1:
    networks:
      mc: {subnet: 224.0.0.0/4}
      ul: {subnet: 192.0.2.0/25}
      ok: {subnet: 10.10.0.0/24}
  h2:
    networks:
      ln: {subnet: 198.51.100.128/25}
      ll: {subnet: 169.254.0.0/16}
      lo: {subnet: 127.0.0.0/8}
  h3:
    networks:
      mv: {driver: macvlan, subnet: 198.51.100.0/24, options: {parent: eth1}}
"""


def test_each_warning_points_at_the_network_that_earns_it() -> None:
    warnings = [str(w) for w in check_topology(read_topology_text(TOPOLOGY, "t.yaml"))]
    assert [w.split(": subnet ")[0] for w in warnings] == [
        "t.yaml:6: hosts.h1.networks.mc: warning",
        "t.yaml:7: hosts.h1.networks.ul: warning",
        "t.yaml:11: hosts.h2.networks.ln: warning",
        "t.yaml:12: hosts.h2.networks.ll: warning",
        "t.yaml:13: hosts.h2.networks.lo: warning",
    ]
    assert "overlaps the multicast range 224.0.0.0/4" in warnings[0]
    assert "overlaps 192.0.2.0/24, a network this Docker host is attached to" in warnings[1]
    assert "overlaps 198.51.100.0/24, a network this Docker host is attached to" in warnings[2]
    assert "overlaps the link-local range" in warnings[3]
    assert "overlaps the loopback range" in warnings[4]


def test_a_topology_without_such_subnets_has_no_warnings() -> None:
    text = "name: calm\nhosts:\n  h1:\n    networks:\n      front: {subnet: 10.1.0.0/24}\n"
    assert check_topology(read_topology_text(text, "t.yaml")) == []


def test_what_docker_refuses_is_still_an_error() -> None:
    text = TOPOLOGY.replace("10.10.0.0/24", "10.10.0.1/24")
    with pytest.raises(TopologyError) as caught:
        check_topology(read_topology_text(text, "t.yaml"))
    assert str(caught.value) == ("t.yaml:8: hosts.h1.networks.ok: invalid network config:\n"
                                 "* invalid subnet 10.10.0.1/24: it should be 10.10.0.0/24")
