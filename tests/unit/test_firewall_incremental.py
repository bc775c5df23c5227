"""The host firewall changes one network at a time (issue 12, finding 5).

Before, every network create and remove rendered and reloaded the whole ruleset,
so that a create at 983 networks took 4.8 s and `lab down` of ~990 networks ran
into its 60 s grace. Here a create at N networks sends one transaction whose
size does not depend on N, and closing an engine drops the firewall in one
command. The fake fabric keeps the table the kernel would hold, so every test
also checks that the transactions leave exactly the state the firewall renders.
"""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.drivers.base import Capability, IPAMData, NetworkSpec
from emulator.drivers.hostfirewall import BridgeRules, FirewallPart, HostFirewall
from emulator.drivers.null import NullDriver
from emulator.fabric.fake import FakeFabric
from emulator.fabric.fakenft import NftRefused


def subnet(i: int) -> str:
    return f"10.{i // 256}.{i % 256}.0/24"


def create(engine: Engine, i: int) -> str:
    """Create network i; the one firewall transaction it sent."""
    fabric = engine.fabric
    sent = len(fabric.firewall_transactions)
    loads = fabric.log.count(("set_firewall", ""))
    engine.create_network(NetworkRequest(f"n{i}", subnet=subnet(i)))
    assert fabric.log.count(("set_firewall", "")) == loads  # no full reload
    assert len(fabric.firewall_transactions) == sent + 1
    return fabric.firewall_transactions[-1]


def shape(transaction: str, engine: Engine, i: int) -> list[str]:
    """The transaction with network i's own names and subnet written generically."""
    bridge = "br-" + engine.get_network(f"n{i}").id[:12]
    address = subnet(i).split("/")[0]
    return transaction.replace(bridge, "BRIDGE").replace(address, "SUBNET").splitlines()


def test_a_create_at_300_networks_sends_what_a_create_at_10_does(engine: Engine,
                                                                   fabric: FakeFabric) -> None:
    transactions = {i: create(engine, i) for i in range(1, 301)}
    assert shape(transactions[300], engine, 300) == shape(transactions[10], engine, 10)
    assert len(shape(transactions[300], engine, 300)) == 5
    assert fabric.ruleset == engine.firewall.ruleset()


def test_a_remove_at_300_networks_sends_what_a_remove_at_10_does(engine: Engine,
                                                                   fabric: FakeFabric) -> None:
    for i in range(1, 301):
        create(engine, i)
    removals = {}
    for i in (300, 10):
        bridge = "br-" + engine.get_network(f"n{i}").id[:12]
        sent = len(fabric.firewall_transactions)
        engine.remove_network(f"n{i}")
        assert len(fabric.firewall_transactions) == sent + 1
        removals[i] = fabric.firewall_transactions[-1].replace(bridge, "BRIDGE").replace(
            subnet(i).split("/")[0], "SUBNET")
    assert removals[300] == removals[10]
    assert removals[300].splitlines() == [
        'delete element inet cnm bridges { "BRIDGE" }',
        'delete element inet cnm bridge_pairs { "BRIDGE" . "BRIDGE" }',
        "delete element inet cnm subnets_24 { SUBNET }",
        "delete element inet cnm masq_24 { SUBNET }",
        'delete element inet cnm masq_own_24 { SUBNET . "BRIDGE" }',
    ]
    assert fabric.ruleset == engine.firewall.ruleset()


def test_creating_and_removing_a_network_leaves_the_firewall_as_it_was(
        engine: Engine, fabric: FakeFabric) -> None:
    before = fabric.ruleset
    engine.create_network(NetworkRequest("front", subnet="10.9.0.0/24", internal=True))
    assert fabric.ruleset != before
    engine.remove_network("front")
    assert fabric.ruleset == before


def test_a_refused_transaction_leaves_firewall_and_kernel_as_they_were(
        engine: Engine, fabric: FakeFabric, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.create_network(NetworkRequest("front", subnet="10.9.0.0/24"))
    firewall = engine.firewall
    before = firewall.ruleset()

    def refused(transaction: str) -> None:
        raise NftRefused("refused")

    monkeypatch.setattr(fabric, "update_firewall", refused)
    with pytest.raises(NftRefused):
        engine.create_network(NetworkRequest("back", subnet="10.8.0.0/23"))  # a new family
    monkeypatch.undo()
    assert firewall.ruleset() == before == fabric.ruleset
    assert [n.name for n in engine.list_networks()] == ["none", "host", "bridge", "front"]
    engine.create_network(NetworkRequest("back", subnet="10.8.0.0/23"))
    assert fabric.ruleset == firewall.ruleset()


def test_an_element_two_parts_hold_stays_until_both_are_gone() -> None:
    """A plugin network's subnet may equal a bridge network's (two address spaces)."""
    fabric = FakeFabric()
    firewall = HostFirewall(fabric)
    shared = IPv4Network("10.50.0.0/24")
    firewall.contribute("bridge", FirewallPart((BridgeRules("br-x", shared, False, True,
                                                            True),)))
    firewall.contribute("plugin", FirewallPart(isolated_subnets=(shared,)))
    firewall.withdraw("bridge")
    assert "add element inet cnm subnets_24 { 10.50.0.0 }" in fabric.ruleset
    firewall.withdraw("plugin")
    assert "subnets_24" not in fabric.ruleset
    assert fabric.ruleset == firewall.ruleset()


class IsolatedDriver(NullDriver):
    """A driver whose networks the host firewall isolates, as a plugin's are."""

    name = "isolated"

    def validate_network(self, net: NetworkSpec, ipam: IPAMData) -> None:
        return None

    def create_network(self, net: NetworkSpec, ipam: IPAMData) -> None:
        return None

    def delete_network(self, net_id: str) -> None:
        return None


def test_plugin_networks_are_isolated_one_part_each(engine: Engine,
                                                    fabric: FakeFabric) -> None:
    """The engine hands in one part per plugin network, as each comes and goes."""
    engine.drivers._loaded["isolated"] = (IsolatedDriver(fabric),
                                          Capability(isolated_by_host_firewall=True))
    engine.create_network(NetworkRequest("p1", driver="isolated", subnet="10.50.0.0/24"))
    engine.create_network(NetworkRequest("p2", driver="isolated", subnet="10.51.0.0/24"))
    assert "add element inet cnm isolated_24 { 10.50.0.0, 10.51.0.0 }" in fabric.ruleset
    sent = len(fabric.firewall_transactions)
    engine.remove_network("p1")
    assert len(fabric.firewall_transactions) == sent + 1
    assert fabric.firewall_transactions[-1].splitlines() == [
        "delete element inet cnm subnets_24 { 10.50.0.0 }",
        "delete element inet cnm isolated_24 { 10.50.0.0 }",
        "delete element inet cnm isolated_pairs_24 { 10.50.0.0 . 10.50.0.0 }",
    ]
    assert fabric.ruleset == engine.firewall.ruleset()


# -- teardown -------------------------------------------------------------------------


@pytest.fixture
def crowded(engine: Engine) -> Engine:
    for i in range(1, 51):
        engine.create_network(NetworkRequest(f"n{i}", subnet=subnet(i)))
    engine.run_container("web", [AttachRequest("n1"), AttachRequest("n2")])
    return engine


def test_close_drops_the_firewall_in_one_command(crowded: Engine, fabric: FakeFabric) -> None:
    log = len(fabric.log)
    crowded.close()
    firewall_calls = [entry for entry in fabric.log[log:] if "firewall" in entry[0]]
    assert firewall_calls == [("set_firewall", "")]
    assert fabric.ruleset == ""
    assert fabric.kernel_objects() == 0


def test_close_when_the_namespace_ends_leaves_links_and_rules_to_it(
        crowded: Engine, fabric: FakeFabric) -> None:
    """The kernel frees a dying namespace's links in one batch; one by one, each costs
    an RCU grace period (1,000 bridges: most of a minute)."""
    log = len(fabric.log)
    links = set(fabric.links)
    crowded.close(namespace_ends=True)
    done = [name for name, _ in fabric.log[log:]]
    assert "delete_link" not in done and "set_firewall" not in done
    assert "update_firewall" not in done
    assert done.count("destroy_sandbox") == 1  # the container's process is ended
    assert set(fabric.links) <= links and "docker0" in fabric.links
    assert crowded.networks == {} and crowded.containers == {}
    assert crowded.addresses.pools() == []
