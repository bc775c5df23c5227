"""The embedded DNS's IPv6 answers on the real kernel: AAAA and ip6.arpa PTR queries
sent to 127.0.0.11:53 from inside a container's namespace.

The engine's IPv6 allocation is another part of the work, so the endpoints' IPv6
addresses are written into the model's field (`Endpoint.address6`) by hand and a
write of the engine (a network made) publishes them, as the engine's own writes
will. What is under test is the resolver's path from the socket to the answer."""

from __future__ import annotations

import secrets
import socket
from ipaddress import IPv6Address, IPv6Interface

import dns.message
import dns.query
import dns.rcode
import pytest

from emulator import Lab
from emulator.cnm.networks import NetworkRequest
from emulator.fabric.netns import Namespace

RESOLVER = "127.0.0.11"


@pytest.fixture(scope="module")
def lab():
    with Lab.default("d6" + secrets.token_hex(3)) as running:
        yield running


@pytest.fixture
def pair(lab):
    """web (alias www) with IPv6 fd00:d6::2 and cli without IPv6, on user bridge d6n."""
    host = lab.host("h1")
    host.networks.create("d6n")
    web = host.containers.run("web", "d6n", aliases=["www"])
    cli = host.containers.run("cli", "d6n")
    engine = host.engine
    net_id = engine.get_network("d6n").id
    engine.get_container(web.id).endpoints[net_id].address6 = IPv6Interface("fd00:d6::2/64")
    engine.create_network(NetworkRequest("d6publish"))  # a write: the view now has it
    yield web, cli
    engine.remove_containers(list(engine.containers), force=True)
    for network in list(engine.networks.values()):
        if not network.predefined:
            engine.remove_network(network.id)


def ask(container, name: str, rdtype: str, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    ns = Namespace.of_pid(container.pid)
    try:
        with ns.entered():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    finally:
        ns.close()
    with sock:
        if tcp:
            sock.settimeout(8)
            sock.connect((RESOLVER, 53))
            sock.setblocking(False)
            return dns.query.tcp(query, RESOLVER, sock=sock, timeout=8)
        sock.setblocking(False)
        return dns.query.udp(query, RESOLVER, sock=sock, timeout=8)


def records(reply: dns.message.Message) -> list[str]:
    assert reply.rcode() == dns.rcode.NOERROR
    return sorted(r.to_text() for rrset in reply.answer for r in rrset)


@pytest.mark.parametrize("tcp", [False, True])
def test_aaaa_answers_the_ipv6_address_over_udp_and_tcp(pair, tcp):
    web, cli = pair
    assert records(ask(cli, "www", "AAAA", tcp)) == ["fd00:d6::2"]
    assert records(ask(cli, "web.d6n", "AAAA", tcp)) == ["fd00:d6::2"]
    assert records(ask(cli, "web", "A", tcp)) == [str(web.ip("d6n"))]


def test_aaaa_of_a_container_without_ipv6_is_noerror_without_answer(pair):
    web, _ = pair
    assert records(ask(web, "cli", "AAAA")) == []


def test_ptr_of_the_ipv6_address_names_the_container(pair):
    _, cli = pair
    reverse = IPv6Address("fd00:d6::2").reverse_pointer
    assert records(ask(cli, reverse, "PTR")) == ["web.d6n."]
