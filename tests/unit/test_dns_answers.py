"""The embedded DNS's answers, without a kernel: engines over fake fabrics, queries
answered from their views. The oracle is Docker 28's libnetwork (resolver.go's
serveDNS, sandbox.go's ResolveName/ResolveIP, network.go's service records, the
daemon's buildEndpointDNSNames)."""

from __future__ import annotations

from ipaddress import IPv4Address

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from emulator.cnm.dnsanswers import Forward, answer, parse, servfail
from emulator.cnm.dnsnames import NameTable
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.swarm.cluster import SwarmDirectory


def ask(engine: Engine, source: str, name: str, rdtype: str = "A", tcp: bool = False,
        ndots_set: bool = False, peers=()) -> dns.message.Message | Forward:
    table = NameTable(engine.view(), [p.view() for p in peers])
    query = dns.message.make_query(name, rdtype)
    result = answer(table, engine.get_container(source).id, query, tcp, ndots_set)
    return result if isinstance(result, Forward) else dns.message.from_wire(result)


def addresses(reply) -> list[str]:
    assert not isinstance(reply, Forward), "forwarded instead of answered"
    assert reply.rcode() == dns.rcode.NOERROR
    return sorted(r.to_text() for rrset in reply.answer for r in rrset)


def address_of(engine: Engine, container: str, network: str) -> str:
    c = engine.get_container(container)
    return str(c.endpoints[engine.get_network(network).id].address.ip)


@pytest.fixture
def host(engine: Engine) -> Engine:
    """Networks dn and other; web (alias www on dn, hostname webhost) on dn; cli on dn
    and other; far on other only; old on the default bridge."""
    engine.create_network(NetworkRequest("dn"))
    engine.create_network(NetworkRequest("other"))
    engine.run_container("web", [AttachRequest("dn", aliases=("www",))], hostname="webhost")
    engine.run_container("cli", [AttachRequest("dn"), AttachRequest("other")])
    engine.run_container("far", [AttachRequest("other")])
    engine.run_container("old", [AttachRequest("bridge")])
    return engine


@pytest.mark.parametrize("name", ["web", "WEB", "www", "webhost", "web.dn", "www.dn",
                                  "web.", "Web.dn."])
def test_names_aliases_hostname_resolve_to_the_address_on_the_shared_network(host, name):
    assert addresses(ask(host, "cli", name)) == [address_of(host, "web", "dn")]


def test_short_id_resolves(host):
    short = host.get_container("web").id[:12]
    assert addresses(ask(host, "cli", short)) == [address_of(host, "web", "dn")]


def test_a_container_on_two_networks_is_answered_with_the_address_on_the_shared_one(host):
    assert addresses(ask(host, "far", "cli")) == [address_of(host, "cli", "other")]
    assert addresses(ask(host, "web", "cli")) == [address_of(host, "cli", "dn")]


def test_name_dot_network_needs_the_asker_on_that_network(host):
    # web is not on `other`: cli.other is not a name it may resolve, so it is forwarded
    assert isinstance(ask(host, "web", "cli.other"), Forward)
    assert addresses(ask(host, "far", "cli.other")) == [address_of(host, "cli", "other")]


def test_a_name_on_no_shared_network_is_forwarded(host):
    assert isinstance(ask(host, "far", "web"), Forward)
    assert isinstance(ask(host, "web", "far"), Forward)


def test_the_default_bridge_has_no_names(host):
    assert isinstance(ask(host, "old", "web"), Forward)
    assert isinstance(ask(host, "web", "old"), Forward)


def test_only_containers_on_user_defined_networks_get_a_resolver(host, fabric):
    served = {key for op, key in fabric.log if op == "open_resolver"}
    assert served == {host.get_container(n).id for n in ("web", "cli", "far")}


def test_aaaa_of_an_ipv4_only_container_is_noerror_without_answer(host):
    reply = ask(host, "cli", "web", "AAAA")
    assert addresses(reply) == []
    assert isinstance(ask(host, "cli", "nosuch", "AAAA"), Forward)


def test_mx_of_a_container_is_noerror_without_answer_other_types_are_forwarded(host):
    assert addresses(ask(host, "cli", "web", "MX")) == []
    assert isinstance(ask(host, "cli", "web", "TXT"), Forward)
    assert isinstance(ask(host, "cli", "web", "CNAME"), Forward)


def test_answers_have_ttl_600_recursion_available_and_no_edns(host):
    query = dns.message.make_query("web", "A", use_edns=0)
    table = NameTable(host.view())
    reply = dns.message.from_wire(answer(table, host.get_container("cli").id, query, False))
    assert reply.answer[0].ttl == 600
    assert reply.flags & dns.flags.RA and reply.flags & dns.flags.RD
    assert not reply.flags & dns.flags.AA
    assert reply.edns == -1 and reply.id == query.id


def test_ptr_names_the_container_and_network(host):
    ip = IPv4Address(address_of(host, "cli", "other"))
    assert addresses(ask(host, "far", ip.reverse_pointer, "PTR")) == ["cli.other."]
    web = IPv4Address(address_of(host, "web", "dn"))
    assert addresses(ask(host, "cli", web.reverse_pointer, "PTR")) == ["web.dn."]
    assert isinstance(ask(host, "far", web.reverse_pointer, "PTR"), Forward)
    assert isinstance(ask(host, "cli", "1.2.0.192.in-addr.arpa", "PTR"), Forward)


def test_a_stopped_container_no_longer_resolves(host):
    host.stop_container("web")
    assert isinstance(ask(host, "cli", "web"), Forward)


def test_an_alias_shared_by_containers_answers_all_of_them(host):
    host.run_container("web2", [AttachRequest("dn", aliases=("www",))])
    assert addresses(ask(host, "cli", "www")) == sorted(
        [address_of(host, "web", "dn"), address_of(host, "web2", "dn")])


def test_a_udp_answer_too_big_for_512_bytes_is_truncated_and_tcp_is_not(engine):
    engine.create_network(NetworkRequest("big"))
    for i in range(40):
        engine.run_container(f"w{i}", [AttachRequest("big", aliases=("pool",))])
    udp = ask(engine, "w0", "pool")
    assert udp.flags & dns.flags.TC and len(udp.to_wire()) <= 512
    assert len(addresses(ask(engine, "w0", "pool", tcp=True))) == 40


def test_ndots_set_keeps_single_label_unknown_names_local(host):
    reply = ask(host, "cli", "nosuch", ndots_set=True)
    assert addresses(reply) == []
    assert isinstance(ask(host, "cli", "nosuch.example", ndots_set=True), Forward)
    assert isinstance(ask(host, "cli", "nosuch", "TXT", ndots_set=True), Forward)


def test_servfail_has_no_recursion_available():
    query = dns.message.make_query("example.com", "A")
    reply = dns.message.from_wire(servfail(query))
    assert reply.rcode() == dns.rcode.SERVFAIL and not reply.flags & dns.flags.RA
    assert reply.id == query.id and reply.question == query.question


def test_parse_ignores_responses_and_refuses_other_shapes():
    query = dns.message.make_query("web", "A")
    assert parse(dns.message.make_response(query).to_wire()) is None
    assert parse(b"\x00\x01garbage") is None
    two = dns.message.make_query("web", "A")
    two.question.append(dns.message.make_query("cli", "A").question[0])
    formerr = dns.message.from_wire(parse(two.to_wire()))
    assert formerr.rcode() == dns.rcode.FORMERR
    assert isinstance(parse(query.to_wire()), dns.message.Message)


@pytest.fixture
def swarm():
    directory = SwarmDirectory()
    h1 = Engine("h1", FakeFabric("h1"), advertise=IPv4Address("192.0.2.11"),
                swarm_directory=directory)
    h2 = Engine("h2", FakeFabric("h2"), advertise=IPv4Address("192.0.2.12"),
                swarm_directory=directory)
    h1.swarm_init()
    h2.swarm_join(["192.0.2.11:2377"], h1.swarm_join_token("worker"))
    return h1, h2


def test_containers_of_other_swarm_nodes_resolve_on_an_overlay(swarm):
    h1, h2 = swarm
    h1.create_network(NetworkRequest("ov", "overlay", attachable=True))
    h1.create_network(NetworkRequest("lb"))
    h2.create_network(NetworkRequest("lb"))
    h1.run_container("one", [AttachRequest("ov"), AttachRequest("lb")])
    h2.run_container("two", [AttachRequest("ov"), AttachRequest("lb")])
    one = h1.get_container("one")
    expected = str(one.endpoints[h1.get_network("ov").id].address.ip)
    assert addresses(ask(h2, "two", "one", peers=[h1])) == [expected]
    assert addresses(ask(h2, "two", "one.ov", peers=[h1])) == [expected]
    # local bridges of other hosts are theirs alone
    assert isinstance(ask(h2, "two", "one.lb", peers=[h1]), Forward)


def test_the_engine_answers_from_its_peers_views(swarm):
    h1, h2 = swarm
    local, peers = h2._dns_views()
    assert local is h2.view() and [p is h1.view() for p in peers] == [True]


def test_macvlan_networks_have_names_and_a_resolver_too(fabric, engine):
    engine.create_network(NetworkRequest("lan", "macvlan", options={"parent": "eth0"}))
    engine.run_container("m1", [AttachRequest("lan", aliases=("printer",))])
    engine.run_container("m2", [AttachRequest("lan")])
    assert addresses(ask(engine, "m2", "printer")) == [address_of(engine, "m1", "lan")]
    served = {key for op, key in fabric.log if op == "open_resolver"}
    assert served == {engine.get_container(n).id for n in ("m1", "m2")}


def test_the_host_network_gets_no_resolver(fabric, engine):
    engine.run_container("hostly", [AttachRequest("host")])
    assert not [key for op, key in fabric.log if op == "open_resolver"]


def test_a_container_whose_start_is_not_published_yet_is_not_known(engine):
    """Its process may ask before the write that started it publishes the view: the
    resolver then waits for the view rather than answer from one without its networks."""
    engine.create_network(NetworkRequest("dn"))
    created = engine.create_container("early", [AttachRequest("dn")])
    assert not NameTable(engine.view()).knows(created.id)
    engine.start_container(created.id)
    assert NameTable(engine.view()).knows(created.id)
