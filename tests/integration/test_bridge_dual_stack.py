"""IPv6 on the bridge driver, on the real kernel, judged by packets (issue 19).

`docker network create --ipv6` is the engine's part; these tests drive the host's
own bridge driver (and its fabric and host firewall) directly, as the engine will:
a dual-stack network's IPAM data in, endpoints with their IPv6 addresses, joins
into sandboxes of the lab. The outside host and h1's underlay NIC are given IPv6
addresses here (the lab's underlay is IPv4; what the published-port test needs is
one /64 on it, added inside the lab's namespaces only).
"""

from __future__ import annotations

import secrets
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)

import pytest

from emulator import Lab
from emulator.drivers.base import EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.drivers.portmapping import PortBinding

UNDERLAY6 = "fd00:b6:ff::{}/64"
OUTSIDE6, HOST6 = "fd00:b6:ff::100", "fd00:b6:ff::1"
SERVER = ("import socket\n"
          "s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, "
          "socket.SO_REUSEADDR, 1)\n"
          "s.bind(('::', 80)); s.listen(1); print('listening', flush=True)\n"
          "for _ in range(3):\n"
          "    c, peer = s.accept(); c.sendall(('hello ' + peer[0]).encode()); c.close()\n")
CLIENT = ("import socket, sys\n"
          "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)\n"
          "print(s.recv(100).decode())\n")


@pytest.fixture(scope="module")
def lab():
    with Lab.default("b6" + secrets.token_hex(2)) as running:
        yield running


class Ipv6Networks:
    """Networks of the host's bridge driver and containers (bare sandboxes) on them,
    all removed at the end."""

    def __init__(self, host) -> None:
        self.fabric = host.engine.fabric
        self.driver = host.engine.driver("bridge")
        self.networks: list[str] = []
        self.sandboxes: list = []
        self._count = 0

    def network(self, index: int, internal: bool = False, options=None,
                ipv6: bool = True) -> str:
        net_id = f"{index:02x}b6" + secrets.token_hex(30)
        ipam = IPAMData(IPv4Network(f"10.96.{index}.0/24"), IPv4Address(f"10.96.{index}.1"),
                        IPv6Network(f"fd00:b6:{index}::/64"), IPv6Address(f"fd00:b6:{index}::1"))
        spec = NetworkSpec(net_id, f"v6net{index}", dict(options or {}), internal,
                           enable_ipv6=ipv6)
        self.driver.create_network(spec, ipam)
        self.networks.append(net_id)
        return net_id

    def container(self, net_id: str, host_part: int, gateway: bool = True,
                  ipv6: bool = True):
        index = int(net_id[:2], 16)
        self._count += 1
        sandbox = self.fabric.create_sandbox(f"b6c{self._count}", f"c{self._count}", False)
        self.sandboxes.append(sandbox)
        ep_id = secrets.token_hex(32)
        address6 = IPv6Interface(f"fd00:b6:{index}::{host_part}/64") if ipv6 else None
        self.driver.create_endpoint(net_id, EndpointSpec(
            ep_id, IPv4Interface(f"10.96.{index}.{host_part}/24"), address6=address6))
        joined = self.driver.join(net_id, ep_id, SandboxRef(sandbox, "eth0", gateway))
        sandbox.ep_id = ep_id
        sandbox.joined = joined
        return sandbox

    def run(self, sandbox, argv: list[str]):
        return self.fabric.exec(sandbox, argv)

    def close(self) -> None:
        for net_id in self.networks:
            self.driver.delete_network(net_id)
        for sandbox in self.sandboxes:
            self.fabric.destroy_sandbox(sandbox)
        self.fabric.settle()


@pytest.fixture
def v6(lab):
    networks = Ipv6Networks(lab.host("h1"))
    yield networks
    networks.close()


def ping6(v6: Ipv6Networks, sandbox, address) -> bool:
    return v6.run(sandbox, ["ping", "-6", "-c", "1", "-W", "1", str(address)]).exit_code == 0


def ping4(v6: Ipv6Networks, sandbox, address) -> bool:
    return v6.run(sandbox, ["ping", "-4", "-c", "1", "-W", "1", str(address)]).exit_code == 0


def test_bridge_and_container_get_their_ipv6_addresses_and_route(lab, v6) -> None:
    net = v6.network(1)
    bridge = v6.driver.bridge_name(net)
    host = lab.host("h1")
    assert "fd00:b6:1::1/64" in host.exec(["ip", "-6", "addr", "show", "dev", bridge]).stdout
    c = v6.container(net, 2)
    assert c.joined.gateway6 == IPv6Address("fd00:b6:1::1")
    addrs = v6.run(c, ["ip", "-6", "addr", "show", "dev", "eth0"]).stdout
    assert "inet6 fd00:b6:1::2/64 scope global nodad" in addrs
    assert "inet6 fe80::" in addrs  # the kernel's link-local
    route = v6.run(c, ["ip", "-6", "route", "show", "default"]).stdout
    assert route.startswith("default via fd00:b6:1::1 dev eth0")
    assert ping6(v6, c, "fd00:b6:1::1"), "the host answers on the bridge's address"


def test_an_ipv4_only_network_leaves_ipv6_disabled_on_the_interface(v6) -> None:
    """Docker >= 26.0.2 (CVE-2024-32473): no IPv6, not even link-local, on the
    interfaces of an IPv4-only network."""
    net = v6.network(2, ipv6=False)
    c = v6.container(net, 2, ipv6=False)
    assert v6.run(c, ["cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"]).stdout.strip() == "1"
    assert v6.run(c, ["ip", "-6", "addr", "show", "dev", "eth0"]).stdout == ""
    assert c.joined.gateway6 is None


def test_one_network_reaches_itself_and_two_are_isolated_over_both_families(v6) -> None:
    front, back = v6.network(3), v6.network(4)
    a, b = v6.container(front, 2), v6.container(front, 3)
    other = v6.container(back, 2)
    assert ping6(v6, a, "fd00:b6:3::3") and ping6(v6, b, "fd00:b6:3::2")
    assert ping6(v6, other, "fd00:b6:4::1"), "routing to the host works: the drop is the firewall"
    assert not ping6(v6, a, "fd00:b6:4::2") and not ping6(v6, other, "fd00:b6:3::2")
    assert not ping4(v6, a, "10.96.4.2") and not ping4(v6, other, "10.96.3.2")
    # without the networks' firewall parts the same packets get through: the host
    # firewall is what isolates them, over both families
    for net in (front, back):
        v6.driver._firewall.withdraw(f"bridge network {net}")
    assert ping6(v6, a, "fd00:b6:4::2") and ping4(v6, a, "10.96.4.2")


def test_icc_off_drops_ipv6_between_containers_but_not_to_the_gateway(v6) -> None:
    net = v6.network(5, options={"com.docker.network.bridge.enable_icc": "false"})
    a, b = v6.container(net, 2), v6.container(net, 3)
    assert not ping6(v6, a, "fd00:b6:5::3") and not ping6(v6, b, "fd00:b6:5::2")
    assert not ping4(v6, a, "10.96.5.3")
    assert ping6(v6, a, "fd00:b6:5::1")
    v6.driver._firewall.withdraw(f"bridge network {net}")  # bridged IPv6 meets the
    assert ping6(v6, a, "fd00:b6:5::3")  # firewall (bridge-nf-call-ip6tables): it was that


@pytest.fixture
def underlay6(lab):
    """One IPv6 /64 on the underlay: the outside host and h1's NIC (lab namespaces only)."""
    setup = "sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 && ip -6 addr replace {} dev eth0 nodad"
    code, out = lab.outside_exec(["sh", "-c", setup.format(UNDERLAY6.format(100))])
    assert code == 0, out
    done = lab.host("h1").exec(["sh", "-c", setup.format(UNDERLAY6.format(1))])
    assert done.exit_code == 0, done.stderr
    yield
    lab.outside_exec(["ip", "-6", "addr", "del", UNDERLAY6.format(100), "dev", "eth0"])
    lab.host("h1").exec(["ip", "-6", "addr", "del", UNDERLAY6.format(1), "dev", "eth0"])


def test_outbound_ipv6_is_masqueraded_and_internal_networks_stay_in(lab, v6, underlay6) -> None:
    """The outside host has no route to the containers' prefixes: its answer comes
    back only to the host's own address, i.e. through NAT66 (Docker 28's default
    gateway mode, nat)."""
    assert lab.outside_exec(["ip", "-6", "route", "show", "fd00:b6:6::/64"])[1] == ""
    out = v6.container(v6.network(6), 2)
    assert ping6(v6, out, OUTSIDE6)
    internal = v6.network(7, internal=True)
    a, b = v6.container(internal, 2), v6.container(internal, 3)
    assert a.joined.gateway6 is None
    assert v6.run(a, ["ip", "-6", "route", "show", "default"]).stdout == ""
    assert ping6(v6, a, "fd00:b6:7::3")
    # even with a route out through the bridge, the host firewall keeps it in
    assert v6.run(a, ["ip", "-6", "route", "add", "default", "via", "fd00:b6:7::1"]).exit_code == 0
    assert ping6(v6, a, "fd00:b6:7::1"), "the host stays reachable on the bridge address"
    assert not ping6(v6, a, OUTSIDE6)
    assert not ping6(v6, a, "fd00:b6:6::2") and not ping6(v6, out, "fd00:b6:7::2")
    del b


def test_a_published_port_is_reachable_over_ipv6_from_outside(lab, v6, underlay6) -> None:
    net = v6.network(8)
    c = v6.container(net, 2)
    done = v6.driver.publish(net, c.ep_id, (PortBinding("tcp", 80, None, 8080, 8080),))
    assert sorted(str(b.host_ip) for b in done) == ["0.0.0.0", "::"]
    server, _ = v6.fabric.popen(c, ["python3", "-u", "-c", SERVER])
    try:
        assert server.stdout.readline().decode().strip() == "listening"
        code, answer = lab.outside_exec(["python3", "-c", CLIENT, HOST6, "8080"])
        assert code == 0, answer
        # DNAT, not NAT: the container sees the outside host's own address
        assert answer.strip() == f"hello {OUTSIDE6}"
        # from a container of another network, through the host's address: let
        # through and seen from the gateway, as Docker's userland proxy connects
        other = v6.container(v6.network(9), 2)
        reply = v6.run(other, ["python3", "-c", CLIENT, HOST6, "8080"])
        assert reply.stdout.strip() == "hello fd00:b6:8::1", reply.stderr
        # from the Docker host itself, to its own address (nat OUTPUT)
        own = lab.host("h1").exec(["python3", "-c", CLIENT, HOST6, "8080"])
        assert own.stdout.strip() == f"hello {HOST6}", own.stderr
    finally:
        server.kill()
        server.wait()
    v6.driver.unpublish(net, c.ep_id)
    code, answer = lab.outside_exec(["python3", "-c", CLIENT, HOST6, "8080"])
    assert code != 0 and "refused" in answer.lower()


def test_a_network_routed_to_from_outside_is_not_reachable_directly(lab, v6, underlay6) -> None:
    """IPv6 prefixes are routed, not hidden behind NAT: with a route to a network's
    prefix through the Docker host, the outside host still reaches no container
    directly (Docker 28's DOCKER chain drops what is routed into a bridge unless it
    is for a published port or answers a connection from inside), while the
    container's own connections out get their answers."""
    c = v6.container(v6.network(10), 2)
    route = ["ip", "-6", "route", "add", "fd00:b6:10::/64", "via", HOST6]
    assert lab.outside_exec(route)[0] == 0
    try:
        code, answer = lab.outside_exec(["ping", "-6", "-c", "1", "-W", "1", "fd00:b6:10::2"])
        assert code != 0, answer
        code, answer = lab.outside_exec(["python3", "-c", CLIENT, "fd00:b6:10::2", "80"])
        assert code != 0 and "timed out" in answer, answer
        assert ping6(v6, c, OUTSIDE6)
        # the Docker host itself reaches it (nothing routed)
        assert lab.host("h1").exec(["ping", "-6", "-c", "1", "-W", "1",
                                    "fd00:b6:10::2"]).exit_code == 0
    finally:
        lab.outside_exec(["ip", "-6", "route", "del", "fd00:b6:10::/64"])
