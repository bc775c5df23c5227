"""The embedded DNS on the real kernel: queries sent to 127.0.0.11:53 from inside
containers' namespaces (dnspython, a socket made in the namespace), answered by the
host's resolver through Docker's NAT rules there; names no network knows go to the
outside host's dnsmasq (the lab's internet DNS)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from ipaddress import IPv4Address

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from leftovers import SO_NETNS_COOKIE, assert_nothing_left, netns_cookie

from emulator import Lab
from emulator.cnm.etcfiles import DnsConfig
from emulator.fabric.netns import Namespace
from emulator.lab.outsidedns import EXAMPLE_AAAA

RESOLVER = "127.0.0.11"
UNUSED_UNDERLAY_ADDRESS = "192.0.2.250"  # no host answers ARP for it


def dns_lab_name() -> str:
    return "dn" + os.urandom(3).hex()


@pytest.fixture(scope="module")
def lab():
    with Lab.default(dns_lab_name()) as running:
        yield running


@pytest.fixture
def h1(lab):
    host = lab.host("h1")
    yield host
    engine = host.engine
    engine.remove_containers(list(engine.containers), force=True)
    for network in list(engine.networks.values()):
        if not network.predefined:
            engine.remove_network(network.id)


def socket_in(pid: int, tcp: bool) -> socket.socket:
    ns = Namespace.of_pid(pid)
    try:
        with ns.entered():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    finally:
        ns.close()
    return sock


def ask(container, name: str, rdtype: str = "A", tcp: bool = False,
        timeout: float = 8.0) -> dns.message.Message:
    """Ask 127.0.0.11:53 from inside the container's namespace, as its libc would."""
    query = dns.message.make_query(name, rdtype)
    with socket_in(container.pid, tcp) as sock:
        if tcp:
            sock.settimeout(timeout)
            sock.connect((RESOLVER, 53))
            sock.setblocking(False)
            return dns.query.tcp(query, RESOLVER, sock=sock, timeout=timeout)
        sock.setblocking(False)
        return dns.query.udp(query, RESOLVER, sock=sock, timeout=timeout)


def answers(reply: dns.message.Message) -> list[str]:
    return sorted(r.to_text() for rrset in reply.answer for r in rrset
                  if rrset.rdtype != dns.rdatatype.CNAME)


@pytest.fixture
def dn(h1):
    """User bridge dn with web (alias www, hostname webhost) and cli; `other` with far."""
    h1.networks.create("dn")
    h1.networks.create("other")
    web = h1.containers.run("web", "dn", aliases=["www"], hostname="webhost")
    cli = h1.containers.run("cli", "dn")
    far = h1.containers.run("far", "other")
    return web, cli, far


def test_names_aliases_short_id_and_hostname_resolve_on_a_user_bridge(dn):
    web, cli, _ = dn
    expected = [str(web.ip("dn"))]
    for name in ("web", "WEB", "www", "webhost", web.id[:12], "web.dn"):
        reply = ask(cli, name)
        assert reply.rcode() == dns.rcode.NOERROR, name
        assert answers(reply) == expected, name
        assert reply.answer[0].ttl == 600
    aaaa = ask(cli, "web", "AAAA")
    assert aaaa.rcode() == dns.rcode.NOERROR and aaaa.answer == []


def test_a_name_does_not_resolve_from_another_network(dn):
    web, _, far = dn
    reply = ask(far, "web")
    assert reply.rcode() == dns.rcode.NXDOMAIN  # forwarded: the internet does not know it


def test_the_default_bridge_has_no_embedded_dns(h1):
    h1.networks.create("dn")
    h1.containers.run("web", "dn")
    old = h1.containers.run("old")
    with pytest.raises(dns.exception.Timeout):
        ask(old, "web", timeout=1.0)


def test_nslookup_in_a_container_gets_the_answer_from_127_0_0_11(dn):
    web, cli, _ = dn
    result = cli.exec(["busybox", "nslookup", "www", RESOLVER])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert str(web.ip("dn")) in result.stdout


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_docker_run_resolves_a_name_as_its_process_starts(dn, lab, tmp_path):
    """`docker run --network dn alpine nslookup www 127.0.0.11`: the process asks at
    once, before the engine may have published the start that made it."""
    web, _, _ = dn
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=lab.docker_host_url("h1"), DOCKER_CONFIG=str(tmp_path),
               DOCKER_CLI_HINTS="false")
    for _ in range(3):
        done = subprocess.run(["docker", "run", "--rm", "--network", "dn", "alpine",
                               "busybox", "nslookup", "www", RESOLVER],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert str(web.ip("dn")) in done.stdout


def test_connect_with_an_alias_starts_the_resolver_and_publishes_the_alias(h1):
    h1.networks.create("dn")
    cli = h1.containers.run("cli", "dn")
    late = h1.containers.run("late")  # the default bridge: no resolver yet
    with pytest.raises(dns.exception.Timeout):
        ask(late, "cli", timeout=1.0)
    h1.networks.get("dn").connect(late, aliases=["db"])
    assert answers(ask(cli, "db")) == [str(late.ip("dn"))]
    assert answers(ask(late, "cli")) == [str(cli.ip("dn"))]
    h1.networks.get("dn").disconnect(late)
    assert ask(cli, "db").rcode() == dns.rcode.NXDOMAIN


def test_external_names_are_forwarded_to_the_hosts_resolver(dn):
    _, cli, _ = dn
    outside = ask(cli, "example.com")
    assert outside.rcode() == dns.rcode.NOERROR
    assert answers(outside) == [str(IPv4Address("192.0.2.254"))]
    assert answers(ask(cli, "example.com", "AAAA")) == [EXAMPLE_AAAA]
    assert answers(ask(cli, "www.example.com")) == ["192.0.2.254"]
    assert ask(cli, "nosuch.example.com").rcode() == dns.rcode.NXDOMAIN


def test_a_container_reaches_what_it_resolved(dn):
    _, cli, _ = dn
    assert cli.exec(["ping", "-c", "1", "-W", "2", answers(ask(cli, "web"))[0]]).exit_code == 0


def test_tcp_queries_are_answered_and_forwarded_over_tcp(dn):
    web, cli, _ = dn
    assert answers(ask(cli, "www", tcp=True)) == [str(web.ip("dn"))]
    assert answers(ask(cli, "example.com", tcp=True)) == ["192.0.2.254"]
    assert ask(cli, "nosuch.example.org", tcp=True).rcode() == dns.rcode.NXDOMAIN


def test_ptr_names_container_addresses(dn):
    web, cli, _ = dn
    reply = ask(cli, web.ip("dn").reverse_pointer, "PTR")
    assert answers(reply) == ["web.dn."]


def test_the_nat_rules_are_dockers_in_the_containers_namespace(dn):
    _, cli, _ = dn
    rules = cli.exec(["nft", "list", "table", "ip", "nat"], privileged=True).stdout
    for chain in ("DOCKER_OUTPUT", "DOCKER_POSTROUTING"):
        assert f"jump {chain}" in rules
    assert "udp dport 53 counter" in rules and "dnat to 127.0.0.11:" in rules


def test_an_internal_network_forwards_nothing_servfail(h1):
    h1.networks.create("sealed", internal=True)
    h1.containers.run("inner", "sealed")
    probe = h1.containers.run("probe", "sealed")
    assert answers(ask(probe, "inner")) == [str(h1.containers.get("inner").ip("sealed"))]
    assert ask(probe, "example.com").rcode() == dns.rcode.SERVFAIL


def _run_with_dns(h1, name: str, servers: list[str]):
    """`docker run --dns ...`, through the Python API."""
    return h1.containers.run(name, "dn", dns=DnsConfig(servers=tuple(servers)))


def test_dns_servers_of_the_container_are_asked_instead_of_the_hosts(h1, lab):
    h1.networks.create("dn")
    h1.containers.run("web", "dn")
    direct = _run_with_dns(h1, "direct", [str(lab.outside_address)])
    assert answers(ask(direct, "example.com")) == ["192.0.2.254"]
    assert answers(ask(direct, "web")) == [str(h1.containers.get("web").ip("dn"))]


def test_an_unreachable_upstream_gives_servfail(h1):
    h1.networks.create("dn")
    lost = _run_with_dns(h1, "lost", [UNUSED_UNDERLAY_ADDRESS])
    started = time.monotonic()
    reply = ask(lost, "example.com", timeout=10)
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert time.monotonic() - started >= 3.5  # libnetwork gives a server 4 s


def test_containers_of_two_hosts_resolve_each_other_on_a_swarm_overlay(lab, h1):
    h2 = lab.host("h2")
    manager, worker = h1.engine, h2.engine
    manager.swarm_init()
    try:
        worker.swarm_join([f"{h1.address}:2377"], manager.swarm_join_token("worker"))
        h1.networks.create("ov", "overlay", attachable=True)
        one = h1.containers.run("one", "ov")
        two = h2.containers.run("two", "ov")
        assert answers(ask(two, "one")) == [str(one.ip("ov"))]
        assert answers(ask(one, "two.ov")) == [str(two.ip("ov"))]
    finally:
        for engine in (worker, manager):
            engine.remove_containers(list(engine.containers), force=True)
        if manager.swarm is not None:
            for network in [n for n in manager.swarm.networks.values() if not n.ingress]:
                manager.remove_network(network.id)
        worker.swarm_leave()
        manager.swarm_leave(force=True)


def _sockets_in(cookies: set[int]) -> list[int]:
    """This process's sockets made in one of these network namespaces."""
    found = []
    for entry in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{entry}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(int(entry)))
        except OSError:
            continue
        with sock:
            try:
                cookie = int.from_bytes(sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8),
                                        "little")
            except OSError:
                continue
        if cookie in cookies:
            found.append(int(entry))
    return found


def test_nothing_of_the_resolver_is_left_after_a_container_or_the_lab_goes():
    name = dns_lab_name()
    with Lab.default(name) as lab:
        h1 = lab.host("h1")
        h1.networks.create("dn")
        web = h1.containers.run("web", "dn")
        cli = h1.containers.run("cli", "dn")
        assert answers(ask(cli, "web")) == [str(web.ip("dn"))]
        assert answers(ask(cli, "example.com")) == ["192.0.2.254"]
        cookies = {netns_cookie(f"/proc/{c.pid}/ns/net") for c in (web, cli)}
        assert len(_sockets_in(cookies)) >= 4  # each container's UDP and TCP sockets
        web.remove(force=True)
        assert h1.engine.dns.serving(web.id) is None
        host_cookie = netns_cookie(f"/proc/{lab.node_pid('h1')}/ns/net")
        cookies.add(host_cookie)
    assert not _sockets_in(cookies)
    assert_nothing_left(name)
