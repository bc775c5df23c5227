"""The differential's facts and overlay measurement on real labs.

Two emulated hosts of one lab must agree with each other on every fact, but for the
MACs that are random (both sides then say so); the overlay measured twice on one
emulated swarm gives the same numbers, which are those of VXLAN over IPv4. With a
real dockerd available to labs (`engine: docker`), the same runs go emulated vs real.
"""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import lab_name

from emulator import Lab
from emulator.experiments.differential import facts, overlay
from emulator.topology import topology_from_data


def two_hosts(engine_h2: str | None = None, lan: bool = True) -> dict:
    h2 = {} if engine_h2 is None else {"engine": engine_h2}
    data = {"name": lab_name(), "hosts": {"h1": {}, "h2": h2}}
    if lan:
        data["lan"] = {}
    return data


def real_docker_available() -> bool:
    if shutil.which("dockerd") is None and not os.path.exists("/usr/sbin/dockerd"):
        return False
    try:
        topology_from_data(two_hosts("docker"))
    except Exception:  # this tree's topology has no `engine` yet
        return False
    return True


needs_real_docker = pytest.mark.skipif(not real_docker_available(),
                                       reason="no real Docker backend for lab hosts")


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


@needs_real_docker
def test_container_facts_emulated_vs_real():
    with Lab(topology_from_data(two_hosts("docker"))) as lab:
        rows = facts.differential(facts.Side.of(lab, "h1"), facts.Side.of(lab, "h2"),
                                  lan=facts.lan_of(lab))
    assert len(rows) > 100
    by_key = {(r.scenario, r.container, r.fact): r for r in rows}
    for key in (("custom MTU option", "m1", "eth0 mtu"),
                ("none network mode", "n1", "interfaces"),
                ("fixed address (--ip)", "f1", "inspect fxfix IPAddress"),
                ("two networks", "t1", "interfaces")):
        assert by_key[key].agree, by_key[key]
