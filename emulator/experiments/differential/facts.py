"""What a container's network looks like, read the same way on an emulated and a real host.

Two views per container: the kernel's, read by rtnetlink inside the container's
namespace (interfaces with their MAC, MTU and IPv4 addresses; the main routing
table), and the engine's inspect data (per network: IPAddress, IPPrefixLen, Gateway,
MacAddress). The container's namespace comes from the engine's own inspect data
(State.Pid), so a real dockerd's containers are read exactly like emulated ones.

A scenario (networks, then containers on them) runs on one host through the Engine
API and leaves nothing behind; running it on two hosts gives, per container and
fact, one tidy row: (scenario, container, fact, emulated, real, agree). Values are
compared as they are; `mac kind` rows say how each MAC was made, so a classifier
can tell a MAC that differs because it is random from one made differently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

import docker
import docker.errors

from emulator.fabric.rtnl import Rtnl
from emulator.probes.namespaced import inside

API_VERSION = "1.41"  # dockerd 20.10's; the emulator answers it too
IMAGE = "busybox"
SLEEP = ["sleep", "3600"]
MTU_OPTION = "com.docker.network.driver.mtu"
INSPECT_FIELDS = ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress")
HOST_NICS = re.compile(r"^(lo|eth\d+|docker0)$")
"""In host mode, the host's own interfaces: what a scenario's leftovers cannot change."""

MAC_FROM_IP = "02:42 + IPv4"
MAC_RANDOM = "random, locally administered"
MAC_OTHER = "other"
MAC_NONE = "none"


# -- what is read ------------------------------------------------------------------


@dataclass(frozen=True)
class InterfaceFacts:
    name: str
    mac: str | None
    mtu: int | None
    ipv4: tuple[IPv4Interface, ...]


@dataclass(frozen=True)
class RouteFacts:
    destination: IPv4Network
    gateway: IPv4Address | None
    device: str | None

    def describe(self) -> str:
        via = f"via {self.gateway} " if self.gateway else ""
        return f"{via}dev {self.device or '?'}"


@dataclass(frozen=True)
class ContainerFacts:
    """The kernel's and the engine's view of one container's network."""

    network_mode: str
    shares_host_namespace: bool
    interfaces: tuple[InterfaceFacts, ...]
    routes: tuple[RouteFacts, ...]
    networks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def read_kernel(pid: int) -> tuple[tuple[InterfaceFacts, ...], tuple[RouteFacts, ...]]:
    """Interfaces and main-table routes in the network namespace of `pid`."""
    with inside(pid), Rtnl() as rtnl:
        links = rtnl.links()
        addresses = rtnl.addresses()
        routes = rtnl.routes()
    return kernel_facts(links, addresses, routes)


def kernel_facts(links, addresses, routes) -> tuple[tuple[InterfaceFacts, ...],
                                                     tuple[RouteFacts, ...]]:
    """Rtnl's links, addresses and routes as facts, sorted by interface name."""
    names = {link.index: link.name for link in links}
    by_index: dict[int, list[IPv4Interface]] = {}
    for index, address in addresses:
        by_index.setdefault(index, []).append(address)
    interfaces = tuple(sorted(
        (InterfaceFacts(link.name, link.mac, link.mtu, tuple(by_index.get(link.index, ())))
         for link in links), key=lambda i: i.name))
    route_facts = tuple(RouteFacts(r.destination, r.gateway, names.get(r.index))
                        for r in routes)
    return interfaces, route_facts


def inspect_networks(attrs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per network in inspect's NetworkSettings.Networks: the four fields compared."""
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return {name: {key: settings.get(key) for key in INSPECT_FIELDS}
            for name, settings in networks.items()}


def _net_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def container_facts(client: docker.DockerClient, name: str, host_pid: int) -> ContainerFacts:
    """The facts of running container `name`; `host_pid` is a process of its Docker host."""
    attrs = client.api.inspect_container(name)
    pid = attrs["State"]["Pid"]
    if not pid:
        raise RuntimeError(f"container {name} is not running: {attrs['State']}")
    shares = _net_inode(pid) == _net_inode(host_pid)
    interfaces, routes = read_kernel(pid)
    if shares:  # the host's namespace: keep what is the host's, not other scenarios'
        interfaces = tuple(i for i in interfaces if HOST_NICS.match(i.name))
        routes = tuple(r for r in routes if r.device and HOST_NICS.match(r.device))
    return ContainerFacts(attrs["HostConfig"]["NetworkMode"], shares, interfaces, routes,
                          inspect_networks(attrs))


def mac_kind(mac: str | None, ipv4: Iterable[IPv4Interface | IPv4Address | str]) -> str:
    """How a MAC was made: Docker's 02:42 followed by one of the IPv4 addresses (libnetwork's
    GenerateMACFromIP), random with the locally administered bit, or otherwise."""
    if not mac:
        return MAC_NONE
    octets = [int(part, 16) for part in mac.split(":")]
    for address in ipv4:
        ip = address.ip if isinstance(address, IPv4Interface) else IPv4Address(str(address))
        if octets[:2] == [0x02, 0x42] and bytes(octets[2:]) == ip.packed:
            return MAC_FROM_IP
    if octets[0] & 0x02 and not octets[0] & 0x01:
        return MAC_RANDOM
    return MAC_OTHER


def flatten(facts: ContainerFacts) -> dict[str, str]:
    """One string per fact name: what a row compares."""
    out = {"network mode": facts.network_mode,
           "namespace": "the host's" if facts.shares_host_namespace else "its own",
           "interfaces": " ".join(i.name for i in facts.interfaces)}
    for iface in facts.interfaces:
        if facts.shares_host_namespace and iface.name.startswith("eth"):
            out[f"{iface.name} mtu"] = str(iface.mtu)  # the rest is this host's, not Docker's
            continue
        out[f"{iface.name} mac"] = iface.mac or ""
        out[f"{iface.name} mac kind"] = mac_kind(iface.mac, iface.ipv4)
        out[f"{iface.name} mtu"] = str(iface.mtu)
        out[f"{iface.name} ipv4"] = " ".join(str(a) for a in iface.ipv4)
    # the default route by itself; the others by device, so that a subnet picked
    # differently is one row with two values, not two rows with one each
    routes: dict[str, list[str]] = {}
    for route in facts.routes:
        if route.destination.prefixlen == 0:
            routes.setdefault("route default", []).append(route.describe())
        else:
            via = f" via {route.gateway}" if route.gateway else ""
            routes.setdefault(f"routes on {route.device or '?'}", []).append(
                f"{route.destination}{via}")
    for fact, ways in routes.items():
        out[fact] = "; ".join(sorted(ways))
    for network, fields in facts.networks.items():
        for key in INSPECT_FIELDS:
            out[f"inspect {network} {key}"] = "" if fields.get(key) is None else str(fields[key])
        mac, ip = fields.get("MacAddress"), fields.get("IPAddress")
        out[f"inspect {network} MacAddress kind"] = mac_kind(mac, [ip] if ip else [])
    return out


# -- scenarios -----------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    driver: str = "bridge"
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    internal: bool = False
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerPlan:
    """A container: run on `network` (a name, or a mode: "none", "host", None for the
    default bridge), fixed address `ip` there, then connected to `also` in order."""

    name: str
    network: str | None = None
    ip: str | None = None
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """Networks made and removed first (`gone`: they move a pool allocator on), then
    `networks`, then `containers` on them."""

    name: str
    networks: tuple[NetworkPlan, ...] = ()
    containers: tuple[ContainerPlan, ...] = ()
    gone: tuple[NetworkPlan, ...] = ()


@dataclass(frozen=True)
class Lan:
    """An emulated LAN the Docker hosts are plugged into: a macvlan parent and its subnet."""

    parent: str
    subnet: str
    gateway: str
    ip_range: str


def lan_of(lab) -> Lan | None:
    """The lab's LAN as a macvlan sees it (each Docker host's eth1), or None when it
    has none or no /28 of it is clear of the router, the hosts and the DHCP pool."""
    lan = lab.topology.lan
    if lan is None:
        return None
    taken = {lan.router, *lan.docker_hosts.values(),
             *(h.address for h in lan.hosts if h.address is not None)}
    for block in reversed(list(lan.subnet.subnets(new_prefix=max(lan.subnet.prefixlen, 28)))):
        if {lan.subnet.network_address, lan.subnet.broadcast_address} & {*block}:
            continue
        if not any(a in taken or (lan.dhcp is not None and a in lan.dhcp) for a in block):
            return Lan("eth1", str(lan.subnet), str(lan.router), str(block))
    return None


def scenarios(prefix: str, lan: Lan | None) -> list[Scenario]:
    """The scenarios compared; `prefix` starts every network and container name."""
    p = prefix
    plans = [
        Scenario("default bridge", (), (ContainerPlan(f"{p}b1"), ContainerPlan(f"{p}b2"))),
        Scenario("user bridge", (NetworkPlan(f"{p}user"),),
                 (ContainerPlan(f"{p}u1", f"{p}user"), ContainerPlan(f"{p}u2", f"{p}user"))),
        Scenario("automatic subnet after a removed network", (NetworkPlan(f"{p}next"),),
                 (ContainerPlan(f"{p}a1", f"{p}next"),), gone=(NetworkPlan(f"{p}gone"),)),
        Scenario("user bridge with a subnet",
                 (NetworkPlan(f"{p}sub", subnet="10.77.0.0/24"),),
                 (ContainerPlan(f"{p}s1", f"{p}sub"),)),
        Scenario("fixed address (--ip)",
                 (NetworkPlan(f"{p}fix", subnet="10.78.0.0/24", gateway="10.78.0.254"),),
                 (ContainerPlan(f"{p}f1", f"{p}fix", ip="10.78.0.50"),
                  ContainerPlan(f"{p}f2", f"{p}fix"))),
        # from here on, subnets are given: how pools are picked is the scenarios above'
        Scenario("internal network",
                 (NetworkPlan(f"{p}int", subnet="10.80.0.0/24", internal=True),),
                 (ContainerPlan(f"{p}i1", f"{p}int"),)),
        Scenario("custom MTU option",
                 (NetworkPlan(f"{p}mtu", subnet="10.81.0.0/24", options={MTU_OPTION: "1400"}),),
                 (ContainerPlan(f"{p}m1", f"{p}mtu"),)),
        Scenario("two networks",
                 (NetworkPlan(f"{p}front", subnet="10.79.0.0/24"),
                  NetworkPlan(f"{p}back", subnet="10.82.0.0/24", internal=True)),
                 (ContainerPlan(f"{p}t1", f"{p}front", also=(f"{p}back",)),
                  ContainerPlan(f"{p}t2", None, also=(f"{p}front",)))),
        Scenario("none network mode", (), (ContainerPlan(f"{p}n1", "none"),)),
        Scenario("host network mode", (), (ContainerPlan(f"{p}h1", "host"),)),
    ]
    if lan is not None:
        plans.insert(7, Scenario(
            "macvlan on the LAN",
            (NetworkPlan(f"{p}mv", "macvlan", subnet=lan.subnet, gateway=lan.gateway,
                         ip_range=lan.ip_range, options={"parent": lan.parent}),),
            (ContainerPlan(f"{p}v1", f"{p}mv"),)))
    return plans


def _create_network(client: docker.DockerClient, plan: NetworkPlan) -> None:
    ipam = None
    if plan.subnet:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
            subnet=plan.subnet, gateway=plan.gateway, iprange=plan.ip_range)])
    client.networks.create(plan.name, driver=plan.driver, ipam=ipam, internal=plan.internal,
                           options=dict(plan.options) or None)


def _run_container(client: docker.DockerClient, plan: ContainerPlan) -> None:
    kwargs: dict[str, Any] = {}
    if plan.network in ("none", "host"):
        kwargs["network_mode"] = plan.network
    elif plan.network is not None:
        kwargs["network"] = plan.network
        if plan.ip:
            kwargs["networking_config"] = {
                plan.network: client.api.create_endpoint_config(ipv4_address=plan.ip)}
    client.containers.run(IMAGE, SLEEP, name=plan.name, detach=True, **kwargs)
    for network in plan.also:
        client.networks.get(network).connect(plan.name)


@contextmanager
def staged(client: docker.DockerClient, scenario: Scenario) -> Iterator[None]:
    """The scenario's networks and containers, removed afterwards whatever happened."""
    for network in scenario.gone:
        _create_network(client, network)
        client.api.remove_network(network.name)
    try:
        for network in scenario.networks:
            _create_network(client, network)
        for container in scenario.containers:
            _run_container(client, container)
        yield
    finally:
        for container in reversed(scenario.containers):
            try:
                client.api.remove_container(container.name, force=True)
            except docker.errors.NotFound:
                pass
        for network in reversed(scenario.networks):
            try:
                client.api.remove_network(network.name)
            except docker.errors.NotFound:
                pass


@dataclass(frozen=True)
class Side:
    """One Docker host a scenario runs on: its Engine API and a process in its namespace."""

    url: str
    host_pid: int

    @classmethod
    def of(cls, lab, host: str) -> Side:
        return cls(lab.docker_host_url(host), lab.node_pid(host))


@contextmanager
def engine_client(url: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=url, version=API_VERSION, timeout=120)
    try:
        yield client
    finally:
        client.close()


def run_scenario(side: Side, scenario: Scenario, prefix: str = "") -> dict[str, dict[str, str]]:
    """Per container (its name without `prefix`): its flattened facts."""
    with engine_client(side.url) as client, staged(client, scenario):
        return {plan.name.removeprefix(prefix):
                flatten(container_facts(client, plan.name, side.host_pid))
                for plan in scenario.containers}


# -- rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FactRow:
    scenario: str
    container: str
    fact: str
    emulated: str | None
    real: str | None

    @property
    def agree(self) -> bool:
        return self.emulated == self.real

    def as_dict(self) -> dict[str, object]:
        return {"scenario": self.scenario, "container": self.container, "fact": self.fact,
                "emulated": self.emulated, "real": self.real, "agree": self.agree}


def compare(scenario: str, emulated: Mapping[str, Mapping[str, str]],
            real: Mapping[str, Mapping[str, str]]) -> list[FactRow]:
    """A row per container and fact on either side; None where a side has no such fact."""
    rows = []
    for container in dict.fromkeys([*emulated, *real]):
        ours, theirs = emulated.get(container, {}), real.get(container, {})
        for fact in dict.fromkeys([*ours, *theirs]):
            rows.append(FactRow(scenario, container, fact, ours.get(fact), theirs.get(fact)))
    return rows


def differential(emulated: Side, real: Side, prefix: str = "fx",
                 lan: Lan | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> list[FactRow]:
    """Every scenario on the emulated host, then on the real one; rows side by side.

    The two sides run one after the other, each scenario removed before the next, so
    they may share a LAN (a macvlan address is never on the wire twice at once).
    """
    plans = scenarios(prefix, lan)
    seen: dict[str, dict[str, dict[str, str]]] = {}
    for label, side in (("emulated", emulated), ("real", real)):
        progress(f"facts: {len(plans)} scenarios on the {label} host")
        for scenario in plans:
            seen.setdefault(scenario.name, {})[label] = run_scenario(side, scenario, prefix)
    rows: list[FactRow] = []
    for scenario in plans:
        rows += compare(scenario.name, seen[scenario.name]["emulated"],
                        seen[scenario.name]["real"])
    return rows
