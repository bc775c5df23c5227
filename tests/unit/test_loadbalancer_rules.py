"""The service load balancer's nftables table (fabric/loadbalancer.py), against golden
files, and the fake fabric's record of what was programmed.

Each case's table is compared with tests/unit/golden/loadbalancer/NAME.nft, written
as `nft list table ip service_lb` shows it (tests/integration/
test_loadbalancer_kernel.py loads each file into a container and compares the
kernel's listing with it). After a deliberate change to the rules,
`CNM_UPDATE_GOLDEN=1 pytest tests/unit/test_loadbalancer_rules.py` rewrites the
files; review their diff.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from emulator.fabric.base import IngressPort, IngressRules, VirtualServer
from emulator.fabric.fake import FakeFabric
from emulator.fabric.loadbalancer import ruleset, vip_addresses

GOLDEN = Path(__file__).parent / "golden" / "loadbalancer"


def addresses(*texts: str) -> tuple[IPv4Address, ...]:
    return tuple(IPv4Address(text) for text in texts)


WEB = VirtualServer(IPv4Address("10.0.1.2"), addresses("10.0.1.5", "10.0.1.6", "10.0.1.7"))
EMPTY = VirtualServer(IPv4Address("10.0.1.9"), ())
DB = VirtualServer(IPv4Address("10.0.1.3"), addresses("10.0.1.10", "10.0.1.11"))
INGRESS_WEB = VirtualServer(IPv4Address("10.0.0.4"), addresses("10.0.0.7", "10.0.0.8"))
LB = IngressRules(IPv4Address("10.0.1.4"), IPv4Network("10.0.1.0/24"), ())
"""An lb-NET sandbox: its own address on the network, no published ports."""
MESH = IngressRules(IPv4Address("10.0.0.2"), IPv4Network("10.0.0.0/24"), (
    IngressPort("tcp", 8080, 80, addresses("10.0.0.7", "10.0.0.8")),
    IngressPort("udp", 5353, 53, addresses("10.0.0.9")),
))

CASES: dict[str, tuple[tuple[VirtualServer, ...], IngressRules | None]] = {
    "one_vip_three_backends": ((WEB,), LB),
    "zero_backends": ((EMPTY, DB), LB),
    "two_vips": ((WEB, DB), LB),
    "ingress_two_ports_and_vip": ((INGRESS_WEB,), MESH),
}


def golden(path: Path, rendered: str) -> str:
    if os.environ.get("CNM_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered)
    return path.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_table_is_the_golden_one(name: str) -> None:
    rendered = ruleset(*CASES[name])
    assert rendered == golden(GOLDEN / f"{name}.nft", rendered)


def test_every_golden_file_has_its_case() -> None:
    assert sorted(path.stem for path in GOLDEN.glob("*.nft")) == sorted(CASES)


def test_backends_are_taken_in_turn_in_the_order_given() -> None:
    rules = ruleset((WEB,), LB)
    assert "numgen inc mod 3 map { 0 : 10.0.1.5, 1 : 10.0.1.6, 2 : 10.0.1.7 }" in rules
    reordered = VirtualServer(WEB.vip, tuple(reversed(WEB.backends)))
    assert "map { 0 : 10.0.1.7, 1 : 10.0.1.6, 2 : 10.0.1.5 }" in ruleset((reordered,), LB)


def test_a_vip_without_backends_has_no_rule_at_all() -> None:
    """Docker deletes the IPVS service, its mark and the VIP's address with the last
    backend: nothing is left to answer for the VIP, not even a ping."""
    assert str(EMPTY.vip) not in ruleset((EMPTY, DB), LB)
    assert ruleset((EMPTY,), LB) == ""
    assert vip_addresses((EMPTY, DB)) == {DB.vip}


def test_nothing_to_balance_is_no_table() -> None:
    assert ruleset(()) == ""
    no_backends = IngressRules(MESH.source, MESH.subnet,
                               (IngressPort("tcp", 8080, 80, ()),))
    assert ruleset((), no_backends) == ""


def test_a_ping_to_a_vip_is_left_to_the_sandbox_holding_it() -> None:
    """The VIP is an address of the sandbox, which answers pings itself: no ICMP rule."""
    assert "icmp" not in ruleset((WEB,), LB)
    assert vip_addresses((WEB,)) == {WEB.vip}


def test_a_vip_balances_tcp_udp_and_sctp_on_every_port() -> None:
    rules = ruleset((WEB,), LB)
    assert ("ip daddr 10.0.1.2 meta l4proto { tcp, udp, sctp } meta mark set 0x00000100 "
            "dnat to numgen") in rules
    assert "dport" not in rules


def test_balanced_connections_get_the_sandboxs_source() -> None:
    """Docker's `-m ipvs --ipvs -d SUBNET -j SNAT --to-source OWN`: what was balanced (a
    VIP's or a published port's connection, marked) leaves with the sandbox's address."""
    rules = ruleset(*CASES["ingress_two_ports_and_vip"])
    assert "tcp dport 8080 meta mark set 0x00000100 dnat to numgen inc mod 2" in rules
    assert "}:80" in rules and "}:53" in rules
    assert "meta mark 0x00000100 ip daddr 10.0.0.0/24 snat to 10.0.0.2" in rules
    assert "meta mark 0x00000100 ip daddr 10.0.1.0/24 snat to 10.0.1.4" in ruleset((WEB,), LB)


@pytest.mark.parametrize("servers, ingress, complaint", [
    ((WEB, WEB), None, "virtual IP is given twice"),
    ((), IngressRules(MESH.source, MESH.subnet, (IngressPort("icmp", 1, 1, ()),)),
     "tcp, udp or sctp"),
    ((), IngressRules(MESH.source, MESH.subnet, MESH.ports[:1] * 2), "given twice"),
    ((), IngressRules(IPv4Address("10.9.9.9"), MESH.subnet, MESH.ports), "not in"),
])
def test_a_program_nft_could_not_mean_is_refused(servers, ingress, complaint) -> None:
    with pytest.raises(ValueError, match=complaint):
        ruleset(servers, ingress)


def test_the_fake_fabric_records_the_last_program_per_sandbox() -> None:
    fabric = FakeFabric()
    client = fabric.create_sandbox("client", "client", shares_host=False)
    mesh = fabric.create_sandbox("ingress_sbox", "ingress_sbox", shares_host=False)
    fabric.program_load_balancer(client, (WEB,), LB)
    fabric.program_load_balancer(client, (WEB, DB), LB)
    fabric.program_load_balancer(mesh, (INGRESS_WEB,), MESH)
    assert fabric.load_balancers == {"client": ((WEB, DB), LB),
                                     "ingress_sbox": ((INGRESS_WEB,), MESH)}
    fabric.program_load_balancer(client, ())
    assert "client" not in fabric.load_balancers
    fabric.destroy_sandbox(mesh)
    assert fabric.load_balancers == {}


def test_the_fake_fabric_refuses_what_the_kernel_would() -> None:
    fabric = FakeFabric()
    client = fabric.create_sandbox("client", "client", shares_host=False)
    with pytest.raises(ValueError):
        fabric.program_load_balancer(client, (WEB, WEB))
    host_mode = fabric.create_sandbox("hostnet", "hostnet", shares_host=True)
    with pytest.raises(ValueError, match="host's network namespace"):
        fabric.program_load_balancer(host_mode, (WEB,))
    assert fabric.load_balancers == {}
