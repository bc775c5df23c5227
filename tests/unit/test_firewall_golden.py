"""The host firewall's nftables state and transactions, against golden files.

As libnetwork's iptabler testdata/*.golden: each option combination is contributed
to a host firewall on the fake fabric, and the whole state it renders is compared
with tests/unit/golden/bridge/NAME.nft; the transactions that create and delete a
network are compared with tests/unit/golden/bridge/transactions/NAME.nft, whose
first line names the state they apply to. The fake fabric keeps what the kernel
would hold after each load and transaction, so every case also checks that the
transactions leave the kernel with exactly the state the firewall renders.

After a deliberate change to the rules, `CNM_UPDATE_GOLDEN=1 pytest
tests/unit/test_firewall_golden.py` rewrites the files; review their diff.
(tests/integration/test_golden_rulesets_load.py has nft check each file.)
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

import pytest
from golden_files import golden

from emulator.drivers.hostfirewall import BridgeRules, FirewallPart, HostFirewall, PublishedPort
from emulator.fabric.fake import FakeFabric

GOLDEN = Path(__file__).parent / "golden" / "bridge"
TRANSACTIONS = GOLDEN / "transactions"
DOCKER0 = BridgeRules("docker0", IPv4Network("172.17.0.0/16"), internal=False, icc=True,
                      masquerade=True)
USER = BridgeRules("br-user", IPv4Network("172.18.0.0/16"), internal=False, icc=True,
                   masquerade=True)
A = replace(USER, bridge="br-a")
B = replace(USER, bridge="br-b", subnet=IPv4Network("172.19.0.0/16"))
LONE = replace(USER, bridge="br-ffffffffffff", subnet=IPv4Network("10.50.0.0/24"))
PLUGIN_SUBNETS = [IPv4Network("10.50.0.0/24"), IPv4Network("10.51.0.0/24")]
DUAL = replace(USER, subnet6=IPv6Network("fd00:1::/64"))
"""A dual-stack network (--ipv6 --subnet fd00:1::/64): its IPv6 subnet is masqueraded
(NAT66, Docker 28's default gateway mode) and isolated by the same interface rules."""
DUAL_B = replace(B, subnet6=IPv6Network("fd00:2::/64"))
V6_ONLY = replace(USER, bridge="br-v6only", subnet=None, subnet6=IPv6Network("fd00:3::/64"))
PLUGIN_SUBNET6 = IPv6Network("fd00:50::/64")

STATES: dict[str, tuple[list[BridgeRules], list[IPv4Network]]] = {
    "no_networks": ([], []),
    "default_bridge": ([DOCKER0], []),
    "user_bridge": ([DOCKER0, USER], []),
    "icc_off": ([DOCKER0, replace(USER, icc=False)], []),
    "masquerade_off": ([DOCKER0, replace(USER, masquerade=False)], []),
    "internal": ([DOCKER0, replace(USER, internal=True)], []),
    "internal_icc_off": ([DOCKER0, replace(USER, internal=True, icc=False)], []),
    "no_subnet": ([DOCKER0, replace(USER, subnet=None)], []),
    "lone_network": ([LONE], []),
    "two_user_bridges": ([DOCKER0, A, B], []),
    "mixed_networks": ([DOCKER0, A, replace(B, icc=False),
                        BridgeRules("br-c", IPv4Network("172.20.0.0/16"), internal=True,
                                    icc=True, masquerade=True),
                        BridgeRules("br-d", IPv4Network("172.21.0.0/16"), internal=False,
                                    icc=True, masquerade=False)], []),
    "plugin_subnets": ([DOCKER0, USER], PLUGIN_SUBNETS),
    "plugin_subnets_only": ([], PLUGIN_SUBNETS),
    "one_plugin_subnet": ([DOCKER0], PLUGIN_SUBNETS[:1]),
    "mixed_prefix_lengths": ([DOCKER0, LONE, replace(B, subnet=IPv4Network("192.168.0.0/20"))],
                             [IPv4Network("10.60.0.0/23")]),
    "published_ports": ([DOCKER0, USER], []),
    "published_loopback": ([DOCKER0], []),
    "dual_stack": ([DOCKER0, DUAL], []),
    "dual_stack_two_networks": ([DOCKER0, replace(DUAL, bridge="br-a"), DUAL_B], []),
    "dual_stack_internal": ([DOCKER0, replace(DUAL, internal=True)], []),
    "dual_stack_icc_off": ([DOCKER0, replace(DUAL, icc=False)], []),
    "dual_stack_masquerade_off": ([DOCKER0, replace(DUAL, masquerade=False)], []),
    "ipv6_only": ([DOCKER0, V6_ONLY], []),
    "plugin_subnet_ipv6": ([DOCKER0, DUAL], [PLUGIN_SUBNETS[0], PLUGIN_SUBNET6]),
    "published_ports_ipv6": ([DOCKER0, DUAL], []),
}
WEB = PublishedPort("docker0", "tcp", None, 8080, IPv4Address("172.17.0.2"), 80)
PUBLISHED: dict[str, tuple[PublishedPort, ...]] = {
    "published_ports": (WEB, replace(WEB, proto="udp", host_port=5353, container_port=53),
                        PublishedPort("br-user", "tcp", None, 49153, IPv4Address("172.18.0.2"),
                                      443)),
    "published_loopback": (replace(WEB, host_ip=IPv4Address("127.0.0.1")),),
    "published_ports_ipv6": (
        replace(WEB, bridge="br-user", container_ip=IPv4Address("172.18.0.2")),
        replace(WEB, bridge="br-user", container_ip=IPv6Address("fd00:1::2")),
        PublishedPort("br-user", "udp", IPv6Address("fd00:b6::10"), 5353,
                      IPv6Address("fd00:1::2"), 53)),
}
"""States with published ports: each state's ports, one part per container."""

Change = tuple[str, str, FirewallPart | None]
"""(state it applies to, key of the part, the part contributed, or None: withdrawn)"""
CHANGES: dict[str, Change] = {
    "create_user_bridge": ("default_bridge", "bridge br-user", FirewallPart((USER,))),
    "delete_user_bridge": ("user_bridge", "bridge br-user", None),
    "create_internal_icc_off": ("default_bridge", "bridge br-user",
                                FirewallPart((replace(USER, internal=True, icc=False),))),
    "delete_internal_icc_off": ("internal_icc_off", "bridge br-user", None),
    "create_masquerade_off": ("default_bridge", "bridge br-user",
                              FirewallPart((replace(USER, masquerade=False),))),
    "create_new_prefix_length": ("default_bridge", "bridge br-ffffffffffff",
                                 FirewallPart((LONE,))),
    "create_plugin_subnet": ("user_bridge", "plugin 10.50.0.0/24",
                             FirewallPart(isolated_subnets=(PLUGIN_SUBNETS[0],))),
    "delete_plugin_subnet": ("plugin_subnets", "plugin 10.51.0.0/24", None),
    "delete_last_of_prefix_length": ("mixed_prefix_lengths", "bridge br-ffffffffffff", None),
    "delete_last_plugin_subnet": ("one_plugin_subnet", "plugin 10.50.0.0/24", None),
    "publish_port": ("default_bridge", "ports web", FirewallPart(published=(WEB,))),
    "publish_on_loopback": ("default_bridge", "ports web",
                            FirewallPart(published=PUBLISHED["published_loopback"])),
    "unpublish_port": ("published_ports", "ports web", None),
    "create_dual_stack": ("default_bridge", "bridge br-user", FirewallPart((DUAL,))),
    "delete_dual_stack": ("dual_stack", "bridge br-user", None),
    "create_plugin_subnet_ipv6": ("dual_stack", f"plugin {PLUGIN_SUBNET6}",
                                  FirewallPart(isolated_subnets=(PLUGIN_SUBNET6,))),
    "publish_port_ipv6": ("dual_stack", "ports web",
                          FirewallPart(published=PUBLISHED["published_ports_ipv6"][:2])),
}


def firewall_in(state: str) -> tuple[HostFirewall, FakeFabric]:
    """A host firewall on the fake fabric, given the parts of STATES[state] one by one."""
    fabric = FakeFabric()
    firewall = HostFirewall(fabric)
    networks, foreign = STATES[state]
    for net in networks:
        firewall.contribute(f"bridge {net.bridge}", FirewallPart((net,)))
    for subnet in foreign:
        firewall.contribute(f"plugin {subnet}", FirewallPart(isolated_subnets=(subnet,)))
    for index, port in enumerate(PUBLISHED.get(state, ())):
        key = "ports web" if port.bridge == "docker0" and port.proto == "tcp" else f"ports {index}"
        firewall.contribute(key, FirewallPart(published=(port,)))
    return firewall, fabric


@pytest.mark.parametrize("name", sorted(STATES))
def test_the_whole_state_is_the_golden_one(name: str) -> None:
    firewall, fabric = firewall_in(name)
    rendered = firewall.ruleset()
    assert rendered == golden(GOLDEN / f"{name}.nft", rendered)
    if STATES[name] != ([], []):
        assert fabric.ruleset == rendered  # what the transactions left in the kernel


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_change_is_the_golden_transaction(name: str) -> None:
    state, key, part = CHANGES[name]
    firewall, fabric = firewall_in(state)
    sent = len(fabric.firewall_transactions)
    if part is None:
        firewall.withdraw(key)
    else:
        firewall.contribute(key, part)
    assert len(fabric.firewall_transactions) == sent + 1
    rendered = f"# on: {state}\n" + fabric.firewall_transactions[-1]
    assert rendered == golden(TRANSACTIONS / f"{name}.nft", rendered)
    assert fabric.ruleset == firewall.ruleset()


def test_every_golden_file_has_its_case() -> None:
    assert sorted(path.stem for path in GOLDEN.glob("*.nft")) == sorted(STATES)
    assert sorted(path.stem for path in TRANSACTIONS.glob("*.nft")) == sorted(CHANGES)
