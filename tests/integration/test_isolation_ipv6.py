"""The isolation matrix's IPv6 cells on real packets, and the dual-stack failure it
exists to catch: isolated over IPv4, not over IPv6.

The emulated drivers do not give IPv6 addresses yet, so the test builds the IPv6
half of two dual-stack bridge networks by hand, as Docker 28 would: a gateway
address on each bridge (`nodad`), an address and an IPv6 default route in each
container, and the same in the state the matrix is judged by (the Engine API's
documents would say it once the drivers do). With IPv6 forwarding off on the
Docker host the networks stay apart over IPv6 as over IPv4; with it on and no
IPv6 firewall (Docker 20.10's default), IPv6 crosses between them, and the matrix
reports those cells as failures, next to their IPv4 twins that held.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Interface, IPv6Network

import pytest

from emulator import Lab
from emulator.experiments.isolation import measure
from emulator.fabric.rtnl import Rtnl
from emulator.fabric.sysctls import write_sysctl
from emulator.probes.apistate import LabState, read_lab
from emulator.probes.matrix import leaks
from emulator.probes.model import IPV4, IPV6, Verdict
from emulator.probes.namespaced import inside, run_in

SUBNETS6 = {"front": IPv6Network("fd00:a::/64"), "back": IPv6Network("fd00:b::/64")}
CONTAINERS = {"f1": ("front", 2), "f2": ("front", 3), "b1": ("back", 2)}
NAMES = [f"h1/{name}" for name in CONTAINERS]


@pytest.fixture(scope="module")
def lab():
    with Lab.default("p6" + secrets.token_hex(3)) as running:
        yield running


def ip(pid: int, *argv: str) -> None:
    result = run_in(pid, ["ip", *argv], {})
    assert result.returncode == 0, (argv, result.stderr)


def bridge_holding(pid: int, gateway: IPv4Address) -> str:
    with inside(pid), Rtnl() as rtnl:
        index = next(i for i, iface in rtnl.addresses() if iface.ip == gateway)
        return next(link.name for link in rtnl.links() if link.index == index)


def forwarding(host_pid: int, on: bool) -> None:
    with inside(host_pid):
        write_sysctl("net.ipv6.conf.all.forwarding", "1" if on else "0")


@pytest.fixture(scope="module")
def dual_stack(lab) -> LabState:
    """front and back on h1 made dual-stack by hand; the state says so."""
    h1 = lab.host("h1")
    host_pid = lab.node_pid("h1")
    networks = {name: h1.networks.create(name) for name in SUBNETS6}
    containers = {name: h1.containers.run(name, network=net)
                  for name, (net, _) in CONTAINERS.items()}
    for name, subnet in SUBNETS6.items():
        gateway4 = containers[next(c for c, (n, _) in CONTAINERS.items() if n == name)].ip()
        bridge = bridge_holding(host_pid, IPv4Address(int(gateway4) & ~0xFF | 1))
        with inside(host_pid):
            write_sysctl(f"net.ipv6.conf.{bridge}.disable_ipv6", "0")
        ip(host_pid, "-6", "addr", "add", f"{subnet[1]}/64", "dev", bridge, "nodad")
    for name, (net, number) in CONTAINERS.items():
        pid = containers[name].pid
        with inside(pid):
            write_sysctl("net.ipv6.conf.eth0.disable_ipv6", "0")
        ip(pid, "-6", "addr", "add", f"{SUBNETS6[net][number]}/64", "dev", "eth0", "nodad")
        ip(pid, "-6", "route", "add", "default", "via", str(SUBNETS6[net][1]))
    state = read_lab(lab)
    return with_ipv6(state, {n.id: n.name for n in networks.values()})


def with_ipv6(state: LabState, network_names: dict[str, str]) -> LabState:
    """`state` as the Engine API reports dual-stack networks: EnableIPv6 and an IPv6
    subnet on front and back, each container's IPv6 address and gateway there."""
    hosts = []
    for host in state.hosts:
        if host.name != "h1":
            hosts.append(host)
            continue
        networks = {}
        for net_id, network in host.networks.items():
            subnet = SUBNETS6.get(network_names.get(net_id, ""))
            networks[net_id] = network if subnet is None else replace(
                network, enable_ipv6=True, subnets6=(subnet,), gateways6=(subnet[1],))
        containers = []
        for container in host.containers:
            if container.name not in CONTAINERS:
                containers.append(container)
                continue
            net, number = CONTAINERS[container.name]
            subnet = SUBNETS6[net]
            endpoints = tuple(replace(ep, address6=IPv6Interface(f"{subnet[number]}/64"),
                                      gateway6=subnet[1]) for ep in container.endpoints)
            containers.append(replace(container, endpoints=endpoints,
                                      gateway_network6=endpoints[0].network_id))
        hosts.append(replace(host, networks=type(host.networks)(networks),
                             containers=tuple(containers)))
    return replace(state, hosts=tuple(hosts))


def cell(cells, source, target, protocol, family):
    return next(c for c in cells if (c.source, c.target, c.protocol, c.family) == (
        source, target, protocol, family))


def test_ipv6_cells_hold_as_ipv4_ones_when_the_host_does_not_route_ipv6(lab, dual_stack):
    forwarding(lab.node_pid("h1"), False)
    cells, _ = measure(lab, containers=NAMES, state=dual_stack)
    six = [c for c in cells if c.family == IPV6]
    assert {c.protocol for c in six} == {"icmp", "tcp", "udp", "ndp"}
    assert not [c for c in cells if c.wrong], [c for c in cells if c.wrong]
    assert cell(cells, "h1/f1", "h1/f2", "icmp", IPV6).observed is Verdict.REACHED
    assert cell(cells, "h1/f1", "h1/f2", "ndp", IPV6).evidence.startswith("neighbour-advert")
    assert cell(cells, "h1/f1", "h1/b1", "tcp", IPV6).observed is Verdict.BLOCKED
    assert cell(cells, "h1", "h1/b1", "icmp", IPV6).observed is Verdict.REACHED
    assert not leaks(cells)


def test_ipv6_crossing_isolated_networks_is_reported_as_a_failure(lab, dual_stack):
    forwarding(lab.node_pid("h1"), True)
    try:
        cells, _ = measure(lab, containers=NAMES, state=dual_stack)
    finally:
        forwarding(lab.node_pid("h1"), False)
    for protocol in ("icmp", "tcp", "udp"):
        v4 = cell(cells, "h1/f1", "h1/b1", protocol, IPV4)
        v6 = cell(cells, "h1/f1", "h1/b1", protocol, IPV6)
        assert (v4.observed, v4.wrong) == (Verdict.BLOCKED, False)
        assert (v6.observed, v6.wrong) == (Verdict.REACHED, True), v6
    assert cell(cells, "h1/f1", "h1/b1", "icmp", IPV6).evidence == "echo-reply"
    leaked = {(v6.source, v6.target, v6.protocol) for _, v6 in leaks(cells)}
    assert {("h1/f1", "h1/b1", "icmp"), ("h1/b1", "h1/f2", "tcp")} <= leaked
    assert all(source != target.split("@")[0] for source, target, _ in leaked)
    # Layer 2 still ends at the bridge: no neighbour across networks.
    assert cell(cells, "h1/f1", "h1/b1", "ndp", IPV6).observed is Verdict.BLOCKED
