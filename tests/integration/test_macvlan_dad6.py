"""IPv6 duplicates on an emulated LAN, found from a MACVLAN container: the NDP scan and
RFC 4862 DAD.

A container on a macvlan network and a LAN host hold the same IPv6 address (as
when a static Docker address, added without DAD, lands on one a LAN host already
has). The scanner is another container of that macvlan network, with IPv6 off on
its interface as Docker 28 leaves it on an IPv4-only network: the scans need no
address of their own (DAD-style solicitations come from `::`).
"""

from __future__ import annotations

import secrets
from ipaddress import IPv6Address

import pytest

from emulator import Lab
from emulator.fabric.rtnl import Rtnl
from emulator.fabric.sysctls import write_sysctl
from emulator.probes.conflicts import scan_conflicts
from emulator.probes.namespaced import inside, run_in
from emulator.probes.ndp import addresses6
from emulator.probes.rfc4862 import Timings6
from emulator.probes.rfc5227 import probe_address
from emulator.topology import load_topology_text

TOPOLOGY = """
name: lan6
hosts:
  h1: {}
lan:
  hosts:
    vm1: {}
"""
SHARED = IPv6Address("2001:db8:100::77")
ONLY_VM = IPv6Address("2001:db8:100::78")
FAST = Timings6(max_delay=0.05, transmits=2, retrans=0.3)


def give_ipv6(pid: int, interface: str, address: IPv6Address) -> str:
    """IPv6 on, `address`/64 added without DAD; the interface's MAC."""
    with inside(pid):
        write_sysctl(f"net.ipv6.conf.{interface}.disable_ipv6", "0")
    done = run_in(pid, ["ip", "-6", "addr", "add", f"{address}/64", "dev", interface, "nodad"],
                  {})
    assert done.returncode == 0, done.stderr
    with inside(pid), Rtnl() as rtnl:
        return rtnl.link(interface).mac


@pytest.fixture(scope="module")
def lan():
    topology = load_topology_text(TOPOLOGY)
    with Lab(topology, "p6" + secrets.token_hex(3)) as lab:
        h1 = lab.host("h1")
        h1.networks.create("lan", driver="macvlan", subnet="198.51.100.0/24",
                           gateway="198.51.100.1", ip_range="198.51.100.128/27",
                           options={"parent": "eth1"})
        owner = h1.containers.run("c1", network="lan")
        scanner = h1.containers.run("c3", network="lan")
        macs = {give_ipv6(owner.pid, "eth0", SHARED),
                give_ipv6(lab.node_pid("vm1"), "eth0", SHARED)}
        give_ipv6(lab.node_pid("vm1"), "eth0", ONLY_VM)
        yield scanner, macs


def test_the_ndp_scan_finds_a_container_and_a_lan_host_on_one_ipv6_address(lan):
    scanner, macs = lan
    assert not [a for a in addresses6(scanner.pid) if a.ifname == "eth0"]  # IPv6 off there
    scan = scan_conflicts(scanner.pid, "eth0", [str(SHARED), str(ONLY_VM)], window=0.5)
    assert scan.family == "ipv6"
    assert scan.owners()[SHARED] == macs
    assert len(scan.owners()[ONLY_VM]) == 1
    assert [c.address for c in scan.conflicts] == [SHARED]


def test_rfc4862_dad_from_the_container_sees_both_owners(lan):
    scanner, macs = lan
    result = probe_address(scanner.pid, "eth0", SHARED, FAST)
    assert result.conflict and set(result.macs) == macs
    assert {e.kind for e in result.events} == {"probe-sent", "na"}
    assert not probe_address(scanner.pid, "eth0", "2001:db8:100::79", FAST).conflict
