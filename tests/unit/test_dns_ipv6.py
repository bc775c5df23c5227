"""The embedded DNS's IPv6 answers (AAAA, ip6.arpa PTR), from views built by hand:
endpoints carrying the model's `address6` as the engine will fill it for networks
with IPv6 enabled. The oracle is Docker 28's libnetwork: svcMap/svcIPv6Map and
ipMap (network.go addSvcRecords), Network.ResolveName (a name known in either
family is found; the answer holds the family asked, perhaps nothing),
Sandbox.ResolveName (the first network knowing the name answers), handlePTRQuery
(".in-addr.arpa." and ".ip6.arpa.")."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from types import MappingProxyType

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from emulator.cnm.dnsanswers import Forward, answer
from emulator.cnm.dnsnames import NameTable
from emulator.cnm.model import Attachment, Container, Endpoint, Network
from emulator.cnm.resolver import EmbeddedDns
from emulator.cnm.view import View
from emulator.fabric.fake import FakeFabric


def network(name: str, ipv4: bool = True, internal: bool = False) -> Network:
    return Network(id=f"{name}-id", name=name, driver="bridge", scope="local",
                   created="", options={}, labels={}, internal=internal,
                   enable_ipv6=True, enable_ipv4=ipv4)


def container(name: str, endpoints: list[tuple[Network, str | None, str | None]],
              aliases: tuple[str, ...] = (), hostname: str = "") -> Container:
    """A running container with an endpoint per (network, IPv4, IPv6) CIDRs, either
    None; the gateways are the subnets' first addresses."""
    c = Container(id=(name * 64)[:64], name=name, hostname=hostname or name,
                  command=[], created="", running=True)
    for net, v4, v6 in endpoints:
        address = IPv4Interface(v4) if v4 else None
        address6 = IPv6Interface(v6) if v6 else None
        c.attachments[net.id] = Attachment(net.id, aliases=aliases)
        c.endpoints[net.id] = Endpoint(
            id=f"{name}-{net.name}", name=name, network_id=net.id, container_id=c.id,
            address=address, mac="02:42:00:00:00:01", aliases=aliases,
            gateway=next(address.network.hosts()) if address else None,
            address6=address6,
            gateway6=address6.network.network_address + 1 if address6 else None)
    return c


def view(containers: list[Container], networks: list[Network],
         services: dict | None = None) -> View:
    return View(MappingProxyType({n.id: n for n in networks}),
                MappingProxyType({c.id: c for c in containers}),
                MappingProxyType(services or {}))


def ask(v: View, source: Container, name: str, rdtype: str = "AAAA"):
    query = dns.message.make_query(name, rdtype)
    result = answer(NameTable(v), source.id, query, tcp=False)
    return result if isinstance(result, Forward) else dns.message.from_wire(result)


def records(reply) -> list[str]:
    assert not isinstance(reply, Forward), "forwarded instead of answered"
    assert reply.rcode() == dns.rcode.NOERROR
    return sorted(r.to_text() for rrset in reply.answer for r in rrset)


DUAL = network("dual")
V6ONLY = network("only6", ipv4=False)
V4NET = network("plain4")


@pytest.fixture
def hosts():
    """web (alias www, hostname webhost) dual stack on `dual`; six IPv6-only on
    `only6`; cli on both; four IPv4-only on `dual` (an endpoint without address6)."""
    web = container("web", [(DUAL, "172.18.0.2/16", "fd00:1::2/64")], aliases=("www",),
                    hostname="webhost")
    six = container("six", [(V6ONLY, None, "fd00:2::2/64")])
    four = container("four", [(DUAL, "172.18.0.4/16", None)])
    cli = container("cli", [(DUAL, "172.18.0.3/16", "fd00:1::3/64"),
                            (V6ONLY, None, "fd00:2::3/64")])
    return view([web, six, four, cli], [DUAL, V6ONLY]), {
        c.name: c for c in (web, six, four, cli)}


@pytest.mark.parametrize("name", ["web", "WEB", "www", "webhost", "web.dual", "www.dual.",
                                  "w" * 12])
def test_aaaa_answers_the_ipv6_address_of_names_aliases_hostname_and_short_id(hosts, name):
    v, c = hosts
    if name == "w" * 12:
        name = c["web"].short_id
    assert records(ask(v, c["cli"], name)) == ["fd00:1::2"]
    assert records(ask(v, c["cli"], name, "A")) == ["172.18.0.2"]


def test_an_ipv6_only_container_answers_aaaa_and_its_a_is_noerror_without_answer(hosts):
    v, c = hosts
    assert records(ask(v, c["cli"], "six")) == ["fd00:2::2"]
    reply = ask(v, c["cli"], "six", "A")
    assert records(reply) == []  # known name, no IPv4: NODATA, not forwarded
    assert records(ask(v, c["cli"], "six", "MX")) == []


def test_aaaa_of_a_container_without_ipv6_is_noerror_without_answer(hosts):
    v, c = hosts
    assert records(ask(v, c["cli"], "four")) == []
    assert records(ask(v, c["cli"], "four", "A")) == ["172.18.0.4"]


def test_an_unknown_name_is_forwarded_for_aaaa_too(hosts):
    v, c = hosts
    assert isinstance(ask(v, c["cli"], "nosuch"), Forward)
    # six is on only6, which web does not share
    assert isinstance(ask(v, c["web"], "six"), Forward)


def test_an_alias_shared_by_dual_and_ipv6_only_containers_answers_per_family():
    a = container("a", [(DUAL, "172.18.0.2/16", "fd00:1::2/64")], aliases=("pool",))
    b = container("b", [(DUAL, None, "fd00:1::9/64")], aliases=("pool",))
    asker = container("asker", [(DUAL, "172.18.0.3/16", "fd00:1::3/64")])
    v = view([a, b, asker], [DUAL])
    assert records(ask(v, asker, "pool")) == ["fd00:1::2", "fd00:1::9"]
    assert records(ask(v, asker, "pool", "A")) == ["172.18.0.2"]


def test_the_first_network_knowing_the_name_answers_even_without_the_family():
    """Sandbox.ResolveName stops at the first network whose records hold the name
    (`dual` is searched before `plain4`); `t.plain4` asks plain4 alone, where the
    target has no IPv6: NOERROR without answer, though `dual` has one."""
    target = container("t", [(V4NET, "172.19.0.2/16", None),
                             (DUAL, "172.18.0.2/16", "fd00:1::2/64")])
    asker = container("asker", [(V4NET, "172.19.0.3/16", None),
                                (DUAL, "172.18.0.3/16", "fd00:1::3/64")])
    v = view([target, asker], [DUAL, V4NET])
    assert records(ask(v, asker, "t")) == ["fd00:1::2"]
    assert records(ask(v, asker, "t", "A")) == ["172.18.0.2"]
    assert records(ask(v, asker, "t.plain4")) == []  # known there, but IPv4 only


def test_ptr_of_an_ipv6_address_names_the_container_and_network(hosts):
    v, c = hosts
    web6 = IPv6Address("fd00:1::2")
    assert records(ask(v, c["cli"], web6.reverse_pointer, "PTR")) == ["web.dual."]
    six6 = IPv6Address("fd00:2::2")
    assert records(ask(v, c["cli"], six6.reverse_pointer + ".", "PTR")) == ["six.only6."]
    # the IPv4 one still answers, and an address no one has is forwarded
    web4 = IPv4Address("172.18.0.2")
    assert records(ask(v, c["cli"], web4.reverse_pointer, "PTR")) == ["web.dual."]
    unknown = IPv6Address("fd00:1::99").reverse_pointer
    assert isinstance(ask(v, c["cli"], unknown, "PTR"), Forward)


def test_ptr_of_an_ipv6_address_is_answered_only_on_a_shared_network(hosts):
    v, c = hosts
    six6 = IPv6Address("fd00:2::2").reverse_pointer
    assert isinstance(ask(v, c["web"], six6, "PTR"), Forward)


def test_ptr_ip6_arpa_names_are_matched_as_written_like_libnetworks_map():
    """ipMap's keys are Go's lower-case hex nibbles; a name written with upper-case
    nibbles is no key there and goes upstream."""
    a = container("a", [(DUAL, "172.18.0.2/16", "fd00:1::ab/64")])
    v = view([a], [DUAL])
    lower = IPv6Address("fd00:1::ab").reverse_pointer
    assert records(ask(v, a, lower, "PTR")) == ["a.dual."]
    assert isinstance(ask(v, a, lower.replace("b.a.", "B.A.", 1), "PTR"), Forward)


def test_a_service_name_with_an_ipv6_address_answers_aaaa(hosts):
    v, c = hosts
    services = {DUAL.id: {"api": (IPv4Address("172.18.0.100"), IPv6Address("fd00:1::100"))}}
    v = View(v.networks, v.containers, MappingProxyType(services))
    assert records(ask(v, c["cli"], "api")) == ["fd00:1::100"]
    assert records(ask(v, c["cli"], "api", "A")) == ["172.18.0.100"]


@pytest.mark.parametrize("internal", [False, True])
def test_an_ipv6_only_container_with_a_gateway_has_a_way_out_for_forwarding(internal):
    """Sandbox.hasExternalAccess counts an IPv6 gateway as a way out (then names no
    network knows go to the host's resolvers); an internal network is none."""
    net = network("only6x", ipv4=False, internal=internal)
    six = container("six", [(net, None, "fd00:3::2/64")])
    v = view([six], [net])
    resolver = EmbeddedDns("h1", FakeFabric("h1"), lambda: (v, ()),
                           dns_servers=["192.0.2.53"])
    assert resolver._has_way_out(six.id) is (not internal)
