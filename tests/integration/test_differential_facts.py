"""The differential's facts and overlay measurement on real labs.

Two emulated hosts of one lab must agree with each other on every fact, but for the
MACs that are random (both sides then say so); the overlay measured twice on one
emulated swarm gives the same numbers, which are those of VXLAN over IPv4. With a
real dockerd available to labs (`engine: docker`), the same runs go emulated vs real.
"""

from __future__ import annotations

import re

import pytest
from conftest import lab_name

from emulator import Lab
from emulator.experiments.differential import facts, overlay
from emulator.lab import realdocker
from emulator.topology import topology_from_data


def two_hosts(engine_h2: str | None = None, lan: bool = True) -> dict:
    h2 = {} if engine_h2 is None else {"engine": engine_h2}
    data = {"name": lab_name(), "hosts": {"h1": {}, "h2": h2}}
    if lan:
        data["lan"] = {}
    return data


needs_real_docker = pytest.mark.skipif(realdocker.available() is not None,
                                       reason=str(realdocker.available()))


def random_mac_facts(rows: list[facts.FactRow]) -> set[tuple[str, str, str]]:
    """(scenario, container, fact) of MAC rows whose MAC is random on both sides."""
    kinds = {(r.scenario, r.container, r.fact): r for r in rows if r.fact.endswith("mac kind")
             or r.fact.endswith("MacAddress kind")}
    out = set()
    for (scenario, container, fact), row in kinds.items():
        if row.emulated == row.real == facts.MAC_RANDOM:
            out.add((scenario, container, fact.removesuffix(" kind")))
    return out


def test_two_emulated_hosts_agree_on_every_container_fact():
    with Lab(topology_from_data(two_hosts())) as lab:
        rows = facts.differential(facts.Side.of(lab, "h1"), facts.Side.of(lab, "h2"),
                                  lan=facts.lan_of(lab))
    by_key = {(r.scenario, r.container, r.fact): r for r in rows}
    random = random_mac_facts(rows)
    disagreements = [r for r in rows if not r.agree
                     and (r.scenario, r.container, r.fact) not in random]
    assert disagreements == []
    assert random  # bridge and macvlan endpoints: random MACs, as in Docker 28

    def fact(scenario: str, container: str, name: str) -> str | None:
        return by_key[(scenario, container, name)].emulated

    assert fact("default bridge", "b1", "eth0 ipv4") == "172.17.0.2/16"
    assert fact("default bridge", "b2", "route default") == "via 172.17.0.1 dev eth0"
    assert fact("fixed address (--ip)", "f1", "inspect fxfix IPAddress") == "10.78.0.50"
    assert fact("fixed address (--ip)", "f1", "route default") == "via 10.78.0.254 dev eth0"
    assert ("internal network", "i1", "route default") not in by_key
    assert fact("custom MTU option", "m1", "eth0 mtu") == "1400"
    assert fact("two networks", "t1", "interfaces") == "eth0 eth1 lo"
    assert fact("none network mode", "n1", "interfaces") == "lo"
    assert fact("host network mode", "h1", "namespace") == "the host's"
    # docker0 has no port left by then: its MAC is still its own, as dockerd sets one
    assert fact("host network mode", "h1", "docker0 mac kind") == facts.MAC_RANDOM
    assert fact("macvlan on the LAN", "v1", "inspect fxmv Gateway") == "198.51.100.1"
    assert fact("macvlan on the LAN", "v1", "eth0 ipv4").startswith("198.51.100.22")


def test_the_overlay_measured_twice_on_one_emulated_swarm_agrees_with_itself():
    with Lab(topology_from_data(two_hosts(lan=False))) as lab:
        hosts = overlay.SwarmHosts.of(lab)
        first = overlay.measure(hosts)
        second = overlay.measure(hosts)  # the first undid its swarm, network, containers
        assert lab.host("h1").engine.swarm is None and lab.host("h2").engine.swarm is None
    rows = overlay.compare(first, second)
    assert [r for r in rows if not r.agree] == []
    assert first["overhead per packet (bytes)"] == "50"
    assert first["container on h1: eth0 mtu"] == first["container on h2: eth0 mtu"] == "1450"
    assert first["ping -s 1422: request bytes on the wire"] == "1514"
    assert first["ping -s 1423: request frames on the wire"] == "2"
    assert first["ping -s 2860: request frames on the wire"] == "3"
    assert first["VXLAN ID on the wire"] == first["VXLAN ID (network option)"]
    assert all(first[f"ping -s {size}: answered"] == "True"
               for size in overlay.ping_sizes(1500))


# Differences between the emulator (Docker 28's behaviour) and Debian's dockerd 20.10,
# each with the moby change behind it; anything else that differs fails the tests.
MAC_FACT = re.compile(r"(mac|MacAddress)( kind)?$")
ADDRESS_FACTS = re.compile(r"(ipv4|IPAddress|Gateway|route default|routes on eth\d)$")


def version_difference(row: facts.FactRow) -> str | None:
    if MAC_FACT.search(row.fact):
        # bc130f367d (moby #48808, v28.0.0): bridge and macvlan endpoints get random MACs;
        # 20.10 derives them from the IPv4 address (and a bridge's own is random in both)
        kinds = {row.emulated, row.real} if row.fact.endswith("kind") else None
        if kinds is None or kinds == {facts.MAC_RANDOM, facts.MAC_FROM_IP}:
            return "MAC from IPv4 (20.10) vs random (28)"
    if row.scenario == "automatic subnet after a removed network" \
            and ADDRESS_FACTS.search(row.fact):
        # 9d288b5b43 (moby #47768, v27.0.0): the linear allocator takes the lowest free
        # pool; 20.10 goes on from where it last allocated (libnetwork cc8b2cac28)
        return "predefined pools: next after the last (20.10) vs lowest free (27+)"
    if row.scenario in ("internal network", "two networks") and \
            (row.fact == "route default" or row.fact.endswith("Gateway")) and row.emulated in (
                None, "") and row.container in ("i1", "t1"):
        # cbc2a71c27 (moby #46603, v25.0.0): no gateway for a container on an internal bridge
        return "internal network: gateway (20.10) vs none (25+)"
    return None


@needs_real_docker
def test_container_facts_emulated_vs_real_differ_only_by_docker_version():
    with Lab(topology_from_data(two_hosts("docker"))) as lab:
        rows = facts.differential(facts.Side.of(lab, "h1"), facts.Side.of(lab, "h2"),
                                  lan=facts.lan_of(lab))
    unexplained = [r for r in rows if not r.agree and version_difference(r) is None]
    assert unexplained == []
    reasons = {version_difference(r) for r in rows if not r.agree}
    assert len(reasons) == 3, reasons
    by_key = {(r.scenario, r.container, r.fact): r for r in rows}
    for key in (("custom MTU option", "m1", "eth0 mtu"),
                ("none network mode", "n1", "interfaces"),
                ("fixed address (--ip)", "f1", "inspect fxfix IPAddress"),
                ("two networks", "t1", "interfaces"),
                ("macvlan on the LAN", "v1", "eth0 ipv4"),
                ("host network mode", "h1", "docker0 mac kind")):
        assert by_key[key].agree, by_key[key]


@needs_real_docker
def test_the_overlay_on_the_wire_is_the_same_emulated_and_real():
    measured = {}
    for engine in ("emulated", "docker"):
        data = two_hosts(lan=False)
        data["engine"] = engine
        with Lab(topology_from_data(data)) as lab:
            measured[engine] = overlay.measure(overlay.SwarmHosts.of(lab))
    rows = overlay.compare(measured["emulated"], measured["docker"])
    differ = {r.metric for r in rows if not r.agree}
    # docker_gwbridge endpoints are bridge endpoints: 02:42 MACs in 20.10 (see above);
    # the addresses, ingress-sbox's and lb-NET's included, are Docker's
    assert differ == {m for m in differ if m.endswith("eth1 mac kind")}
    assert measured["emulated"]["overlay endpoints on h1"] == measured["docker"][
        "overlay endpoints on h1"]
    wire_rows = [r for r in rows if r.metric.startswith(("ping -s", "overhead", "VXLAN"))]
    assert wire_rows and all(r.agree for r in wire_rows)
    assert measured["docker"]["overhead per packet (bytes)"] == "50"
    assert measured["docker"]["container on h2: eth0 mtu"] == "1450"
