"""Published ports: who Docker lets reach a binding, and the probe plan."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from emulator.probes import published as pub

TCP_ANY, TCP_LOOPBACK, UDP_ANY = pub.BINDINGS


@pytest.mark.parametrize("relation", pub.RELATIONS)
def test_a_binding_on_every_address_is_reached_at_the_host_address_from_everywhere(relation):
    assert pub.expected_reach(relation, "host address", TCP_ANY)
    assert pub.expected_reach(relation, "host address", UDP_ANY)


@pytest.mark.parametrize("relation", pub.RELATIONS)
def test_a_loopback_binding_is_never_reached_at_the_host_address(relation):
    assert not pub.expected_reach(relation, "host address", TCP_LOOPBACK)


def test_127_0_0_1_is_the_docker_host_only_from_the_host_itself():
    for binding in pub.BINDINGS:
        assert pub.expected_reach(pub.THE_HOST, "127.0.0.1", binding)
        for relation in set(pub.RELATIONS) - {pub.THE_HOST}:
            assert not pub.expected_reach(relation, "127.0.0.1", binding)


def test_the_bindings_as_docker_py_takes_them_and_as_specs():
    assert pub.docker_py_ports() == {"80/tcp": 8080, "81/tcp": ("127.0.0.1", 8081),
                                     "82/udp": 8082}
    assert [b.spec for b in pub.BINDINGS] == ["8080:80/tcp", "127.0.0.1:8081:81/tcp",
                                              "8082:82/udp"]


def test_every_source_tries_every_binding_at_both_addresses():
    sources = [pub.PortSource("h1", 1, pub.THE_HOST), pub.PortSource("outside", 2, pub.OUTSIDE)]
    plan = pub.probes(sources, IPv4Address("192.0.2.11"))
    assert len(plan) == 2 * 2 * len(pub.BINDINGS)
    assert {p.target for p in plan} == {
        "host address:8080/tcp", "host address:8081/tcp", "host address:8082/udp",
        "127.0.0.1:8080/tcp", "127.0.0.1:8081/tcp", "127.0.0.1:8082/udp"}
    assert {p.address for p in plan} == {IPv4Address("192.0.2.11"), pub.LOOPBACK}
