"""IPv6 on macvlan on the real kernel, with the LAN's router speaking IPv6.

The macvlan driver is driven directly (the engine's IPv6 allocation is another part
of the work): a container on network none gets a MACVLAN of h1's eth1 with a static
IPv6 address, as Docker 28 gives it. The LAN router then answers over IPv6 and sends
a router advertisement (a raw ICMPv6 packet from its namespace, as radvd would) for
another prefix: the container takes a SLAAC address from it beside its static one
(Docker leaves accept_ra and autoconf at the kernel's defaults), while a container on
an IPv4-only macvlan network takes nothing (IPv6 disabled on its interface, Docker
26.0.2+). Everything happens in the lab's namespaces.
"""

from __future__ import annotations

import secrets
import time
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from ipaddress import IPv6Network as Net6

import pytest

from emulator import Lab
from emulator.drivers.base import EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.topology import load_topology_text

TOPOLOGY = """
name: d6lan
hosts:
  h1: {}
lan:
  hosts:
    srv: {address: 198.51.100.10}
"""
LAN_SUBNET = IPv4Network("198.51.100.0/24")
ROUTER = IPv4Address("198.51.100.1")
STATIC6 = Net6("2001:db8:6::/64")
ROUTER6 = IPv6Address("2001:db8:6::1")
SLAAC6 = Net6("2001:db8:5a::/64")

SEND_RA = """
import socket, struct, sys
ifname, prefix = sys.argv[1], sys.argv[2]
ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
pio = struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0)
pio += socket.inet_pton(socket.AF_INET6, prefix)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(ifname))
s.sendto(ra + pio, ("ff02::1", 0, 0, socket.if_nametoindex(ifname)))
"""


@pytest.fixture(scope="module")
def lan():
    with Lab(load_topology_text(TOPOLOGY), "d6" + secrets.token_hex(3)) as running:
        yield running


def router_lan_interface(lab: Lab) -> str:
    _, out = lab.node_exec("router", ["ip", "-o", "-4", "addr", "show"])
    (line,) = [line for line in out.splitlines() if f" {ROUTER}/" in line]
    return line.split()[1]


@pytest.fixture(scope="module")
def router6(lan) -> str:
    """The router's LAN interface with IPv6 on (no DAD: its link-local is usable at
    once) and the static subnet's gateway address."""
    ifname = router_lan_interface(lan)
    for knob, value in (("accept_dad", "0"), ("disable_ipv6", "0")):
        code, out = lan.node_exec("router", ["sysctl", "-w",
                                             f"net.ipv6.conf.{ifname}.{knob}={value}"])
        assert code == 0, out
    code, out = lan.node_exec("router", ["ip", "-6", "addr", "add", f"{ROUTER6}/64", "dev",
                                         ifname, "nodad"])
    assert code == 0, out
    return ifname


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def addresses6(container, ifname: str = "eth0") -> list[tuple[IPv6Interface, str]]:
    """(address, flags) of the interface's IPv6 addresses."""
    out = container.exec(["ip", "-6", "-o", "addr", "show", "dev", ifname]).stdout
    found = []
    for line in out.splitlines():
        words = line.split()
        found.append((IPv6Interface(words[3]), " ".join(words[4:])))
    return found


def macvlan_network(host, net_id: str, ipv6: bool):
    """A macvlan network of h1's eth1 made through the driver, as the engine would."""
    driver = host.engine.drivers.get("macvlan")
    ipam = IPAMData(LAN_SUBNET, ROUTER, STATIC6 if ipv6 else None, ROUTER6 if ipv6 else None)
    driver.create_network(NetworkSpec(net_id, f"lan{net_id[:4]}", {"parent": "eth1"},
                                      enable_ipv6=ipv6), ipam)
    return driver


@pytest.fixture
def h1(lan, router6):
    host = lan.host("h1")
    made = []

    def join(name: str, address: str, address6: str | None):
        net_id = secrets.token_hex(32)
        driver = macvlan_network(host, net_id, address6 is not None)
        container = host.containers.run(name, network="none")
        ep_id = secrets.token_hex(32)
        driver.create_endpoint(net_id, EndpointSpec(
            ep_id, IPv4Interface(address), None,
            IPv6Interface(address6) if address6 else None))
        sandbox = host.engine.get_container(container.id).sandbox
        made.append((driver, net_id))
        return container, driver.join(net_id, ep_id, SandboxRef(sandbox, "eth0", True))

    yield join
    for driver, net_id in made:
        driver.delete_network(net_id)
    host.engine.remove_containers(list(host.engine.containers), force=True)


def test_a_macvlan_container_has_its_static_ipv6_address_without_dad_and_the_gateway(lan, h1):
    c, joined = h1("d6a", "198.51.100.40/24", "2001:db8:6::40/64")
    assert joined.gateway6 == ROUTER6
    found = dict(addresses6(c))
    static = IPv6Interface("2001:db8:6::40/64")
    assert static in found and "tentative" not in found[static]
    assert any(a.ip.is_link_local for a in found)  # the kernel's, with IPv6 on
    route = c.exec(["ip", "-6", "route", "show", "default"]).stdout
    assert route.startswith(f"default via {ROUTER6} dev eth0")
    assert c.exec(["ping", "-6", "-c", "1", "-W", "2", str(ROUTER6)]).exit_code == 0
    assert lan.node_exec("router", ["ping", "-6", "-c", "1", "-W", "2", "2001:db8:6::40"])[0] == 0


def test_a_router_advertisement_gives_a_slaac_address_beside_the_static_one(lan, router6, h1):
    dual, _ = h1("d6b", "198.51.100.41/24", "2001:db8:6::41/64")
    only4, _ = h1("d6c", "198.51.100.42/24", None)
    # the dual-stack container's link-local must be past DAD for the RA to be taken
    assert wait_for(lambda: any(a.ip.is_link_local and "tentative" not in flags
                                for a, flags in addresses6(dual)), timeout=15)
    code, out = lan.node_exec("router", ["python3", "-c", SEND_RA, router6,
                                         str(SLAAC6.network_address)])
    assert code == 0, out
    slaac = wait_for(lambda: [a for a, _ in addresses6(dual) if a.ip in SLAAC6])
    assert slaac, addresses6(dual)
    assert IPv6Interface("2001:db8:6::41/64") in dict(addresses6(dual))
    # IPv4-only network: IPv6 is off on its interface, the RA gives it nothing
    assert addresses6(only4) == []
    disabled = only4.exec(["cat", "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"]).stdout
    assert disabled.strip() == "1"
