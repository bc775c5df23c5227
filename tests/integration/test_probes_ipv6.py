"""The IPv6 probes on real namespaces: ICMPv6 echo, TCP and UDP over IPv6, neighbour
solicitation, the NDP duplicate scan and RFC 4862 DAD.

The containers' networks are IPv4 (Docker's own IPv6 comes with the drivers); the
test turns IPv6 on for their interfaces and gives them ULA addresses by hand
(`nodad`, as Docker adds its addresses), so packets cross the same Linux bridge
the IPv4 probes do. Verdicts are checked against `ping -6`.
"""

from __future__ import annotations

import secrets
from ipaddress import IPv6Address

import pytest

from emulator import Lab
from emulator.fabric.rtnl import Rtnl
from emulator.fabric.sysctls import write_sysctl
from emulator.probes import ProbeEngine, ProbeTarget, Verdict
from emulator.probes.conflicts import scan_conflicts
from emulator.probes.model import ALL_PROTOCOLS6, IPV6
from emulator.probes.namespaced import inside, run_in
from emulator.probes.ndpscan import scan_conflicts6
from emulator.probes.rfc4862 import Timings6
from emulator.probes.rfc5227 import probe_address

PREFIX = "fd00:6:1::"
FAST = Timings6(max_delay=0.05, transmits=2, retrans=0.3)


@pytest.fixture(scope="module")
def lab():
    with Lab.default("p6" + secrets.token_hex(3)) as running:
        yield running


def give_ipv6(container, address: str) -> None:
    """IPv6 on the container's eth0 (Docker's v4-only interfaces have it off) and
    `address`/64 on it, without DAD."""
    with inside(container.pid):
        write_sysctl("net.ipv6.conf.eth0.disable_ipv6", "0")
    result = run_in(container.pid, ["ip", "-6", "addr", "add", f"{address}/64", "dev", "eth0",
                                    "nodad"], {})
    assert result.returncode == 0, result.stderr


def mac_of(container) -> str:
    with inside(container.pid), Rtnl() as rtnl:
        return rtnl.link("eth0").mac


def ping6(container, address: str) -> bool:
    return container.exec(["ping", "-6", "-c", "1", "-W", "1", address]).exit_code == 0


@pytest.fixture(scope="module")
def dual(lab):
    """f1, f2 on `front`, b1 on `back`, each with an IPv6 address; d1 holds f2's too."""
    h1 = lab.host("h1")
    h1.networks.create("front")
    h1.networks.create("back")
    containers = {name: h1.containers.run(name, network=network)
                  for name, network in (("f1", "front"), ("f2", "front"), ("d1", "front"),
                                        ("b1", "back"))}
    addresses = {"f1": PREFIX + "11", "f2": PREFIX + "12", "d1": PREFIX + "12",
                 "b1": "fd00:6:2::21"}
    for name, address in addresses.items():
        give_ipv6(containers[name], address)
    yield containers, addresses


def test_ipv6_verdicts_agree_with_ping(dual):
    containers, addresses = dual
    f1, b1 = containers["f1"], containers["b1"]
    targets = [ProbeTarget("f2", containers["f2"].pid, addresses["f2"]),
               ProbeTarget("b1", b1.pid, addresses["b1"]),
               ProbeTarget("nobody", containers["f2"].pid, PREFIX + "99")]
    results = ProbeEngine(window=0.6).run([ProbeTarget("f1", f1.pid, None)], targets,
                                          ALL_PROTOCOLS6)
    got = {(r.target, r.protocol): r for r in results}
    assert {r.family for r in results} == {IPV6}
    f2 = {p: got[("f2", p)] for p in ALL_PROTOCOLS6}
    # f2 and d1 share an address: whichever answers, the address was reached.
    assert [f2[p].verdict for p in ALL_PROTOCOLS6] == [Verdict.REACHED] * 4
    assert f2["icmp"].evidence == "echo-reply"
    assert f2["tcp"].evidence == "rst"
    assert f2["udp"].evidence == "icmp6-1/4"
    assert f2["ndp"].evidence.startswith("neighbour-advert ")
    assert ping6(f1, addresses["f2"])
    # b1 is on another network whose prefix f1 has no route to: nothing leaves.
    assert all(got[("b1", p)].verdict is Verdict.BLOCKED for p in ALL_PROTOCOLS6)
    assert got[("b1", "ndp")].evidence == "not on-link"
    assert got[("b1", "icmp")].evidence in ("no route", "send failed: Network is unreachable")
    assert not ping6(f1, addresses["b1"])
    # An address nobody holds on f1's own link: solicited, never advertised.
    assert got[("nobody", "ndp")].verdict is Verdict.BLOCKED
    assert got[("nobody", "icmp")].verdict is Verdict.BLOCKED


def test_ndp_scan_finds_the_duplicate_ipv6_address(dual):
    containers, addresses = dual
    f1 = containers["f1"]
    macs = {name: mac_of(containers[name]) for name in ("f2", "d1")}
    for dad in (True, False):
        scan = scan_conflicts6(f1.pid, "eth0", [addresses["f2"], addresses["f1"],
                                                PREFIX + "99"], window=0.5, dad=dad)
        assert scan.family == IPV6
        owners = scan.owners()
        assert owners[IPv6Address(addresses["f2"])] == set(macs.values()), dad
        assert [c.address for c in scan.conflicts] == [IPv6Address(addresses["f2"])]
        assert IPv6Address(PREFIX + "99") not in owners
    # The ARP scan's entry point takes IPv6 text and answers the same way.
    assert scan_conflicts(f1.pid, "eth0", [addresses["f2"]], window=0.5).conflicts


def test_rfc4862_dad_detects_the_duplicate_and_clears_a_free_address(dual):
    containers, addresses = dual
    b1 = containers["b1"]
    f1 = containers["f1"]
    taken = probe_address(f1.pid, "eth0", addresses["f2"], FAST)
    assert taken.family == IPV6 and taken.conflict
    assert len(taken.macs) == 2
    assert {e.kind for e in taken.events} == {"probe-sent", "na"}
    assert taken.probes_sent == 2
    free = probe_address(f1.pid, "eth0", PREFIX + "77", FAST)
    assert not free.conflict and free.probes_sent == 2
    # b1's address lives on another link: DAD on front does not see it.
    assert not probe_address(f1.pid, "eth0", addresses["b1"], FAST).conflict
    assert probe_address(b1.pid, "eth0", addresses["b1"], FAST).conflict is False
