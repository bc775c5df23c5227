"""What one Docker host's Engine API says about its networks and containers, frozen.

The probe machinery decides who should reach whom from this record, never from an
engine's Python objects, so that it judges a host running the emulated engine and
one running a real dockerd alike: both answer the same Engine API on the host's
socket. Per host that is one network list, one container list and one inspect per
running container (for `State.Pid` and the network mode), plus an inspect of
`docker_gwbridge` where it exists: a container's own inspect leaves out its
endpoint there (libnetwork's `gateway_<id>`), the network's inspect lists it.

Each endpoint keeps the names the embedded DNS answers for it (`Aliases`, and
`DNSNames` where the engine's API has them), each container its hostname: the
isolation experiment's dns section derives who resolves whom from them.

Which network holds a container's default route is read from the kernel, not
inferred: the default route of the container's namespace (`/proc/PID/net/route`,
no namespace switch) and the endpoint whose gateway it goes through.

IPv6 is read alongside where an engine reports it: a network's `EnableIPv6` and
IPv6 IPAM configs, an endpoint's `GlobalIPv6Address` and `IPv6Gateway`, the IPv6
default route (`/proc/PID/net/ipv6_route`) of containers with an IPv6 endpoint,
and the IPv6 address of each Docker host and of the outside host on the underlay
(the kernel's, on the interface holding the IPv4 underlay address), if any.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import Any, Protocol

import docker
import docker.errors

from emulator.fabric.netns import Namespace
from emulator.fabric.rtnl import Rtnl
from emulator.probes.engine import refuse_machine_namespace
from emulator.probes.ndp import SCOPE_GLOBAL, addresses6
from emulator.topology.frozenmap import FrozenMap

# Debian's dockerd 20.10 speaks at most API 1.41; the emulated hosts accept it too.
API_VERSION = "1.41"
GWBRIDGE = "docker_gwbridge"  # the bridge Docker gives overlay containers a way out on
TIMEOUT_S = 30
RTF_UP, RTF_GATEWAY, RTF_REJECT = 0x1, 0x2, 0x200


@dataclass(frozen=True)
class NetworkState:
    id: str
    name: str
    driver: str
    scope: str
    internal: bool
    options: FrozenMap[str, str]
    subnets: tuple[IPv4Network, ...]  # IPv4 IPAM subnets; none for host, none, null IPAM
    gateways: tuple[IPv4Address, ...]
    enable_ipv6: bool = False  # EnableIPv6
    subnets6: tuple[IPv6Network, ...] = ()  # IPv6 IPAM subnets
    gateways6: tuple[IPv6Address, ...] = ()

    def flag(self, option: str, default: bool) -> bool:
        """A boolean driver option as dockerd reads it (Go's strconv.ParseBool)."""
        value = self.options.get(option)
        if value is None:
            return default
        return value in ("1", "t", "T", "TRUE", "true", "True")


@dataclass(frozen=True)
class EndpointState:
    network_id: str
    network_name: str
    address: IPv4Interface | None
    mac: str
    gateway: IPv4Address | None  # what the engine gives this endpoint as its gateway
    aliases: tuple[str, ...] = ()  # the endpoint's `Aliases` (20.10 adds the short id)
    dns_names: tuple[str, ...] | None = None  # `DNSNames` (API 1.44 on), if the engine says
    address6: IPv6Interface | None = None  # GlobalIPv6Address/GlobalIPv6PrefixLen
    gateway6: IPv6Address | None = None  # IPv6Gateway

    def names(self, container: str) -> tuple[str, ...]:
        """The names the embedded DNS answers for this endpoint: `DNSNames` where the
        engine gives them, else the container's name and the endpoint's aliases."""
        if self.dns_names is not None:
            return self.dns_names
        return tuple(dict.fromkeys((container, *self.aliases)))


@dataclass(frozen=True)
class ContainerState:
    id: str
    name: str
    running: bool
    pid: int
    network_mode: str  # HostConfig.NetworkMode: "host", "none", "default", a network name
    endpoints: tuple[EndpointState, ...]  # in the engine's order, docker_gwbridge last
    gateway_network: str | None  # the id of the network the default route goes through
    hostname: str = ""  # Config.Hostname
    gateway_network6: str | None = None  # the same for the IPv6 default route

    @property
    def shares_host(self) -> bool:
        return self.network_mode == "host"


@dataclass(frozen=True)
class HostState:
    name: str
    address: IPv4Address  # on the underlay
    pid: int  # a process in the host's own network namespace
    networks: FrozenMap[str, NetworkState]  # by id
    containers: tuple[ContainerState, ...]  # the running ones, oldest first
    address6: IPv6Address | None = None  # on the underlay, where it has one


@dataclass(frozen=True)
class LabState:
    hosts: tuple[HostState, ...]
    outside_pid: int
    outside_address: IPv4Address
    outside_address6: IPv6Address | None = None


@dataclass(frozen=True)
class DefaultRoute:
    """A namespace's IPv4 (or IPv6) default route: via a gateway, or straight out of a
    device (then matched to an endpoint by the device's MAC, which the Engine API gives)."""

    gateway: IPv4Address | IPv6Address | None
    device: str = ""
    device_mac: str | None = None


class EngineAPI(Protocol):
    """The part of docker-py's low-level APIClient read here."""

    def containers(self) -> list[dict[str, Any]]: ...
    def inspect_container(self, container: str) -> dict[str, Any]: ...
    def networks(self) -> list[dict[str, Any]]: ...
    def inspect_network(self, net_id: str) -> dict[str, Any]: ...


RouteReader = Callable[[int], DefaultRoute | None]


# -- parsing the Engine API's JSON --------------------------------------------------


def _ipv4(text: object) -> IPv4Address | None:
    try:
        return IPv4Address(str(text)) if text else None
    except ValueError:
        return None


def _ipv6(text: object) -> IPv6Address | None:
    try:
        return IPv6Address(str(text)) if text else None
    except ValueError:
        return None


def _ipv6_interface(text: object) -> IPv6Interface | None:
    try:
        return IPv6Interface(str(text)) if text else None
    except ValueError:
        return None


def parse_network(doc: Mapping[str, Any]) -> NetworkState:
    subnets, gateways, subnets6, gateways6 = [], [], [], []
    for config in (doc.get("IPAM") or {}).get("Config") or []:
        text = config.get("Subnet") or ""
        try:
            if ":" in text:
                subnets6.append(IPv6Network(text, strict=False))
                if gateway6 := _ipv6(config.get("Gateway")):
                    gateways6.append(gateway6)
                continue
            subnet = IPv4Network(text, strict=False)
        except ValueError:
            continue  # no pool
        subnets.append(subnet)
        if gateway := _ipv4(config.get("Gateway")):
            gateways.append(gateway)
    return NetworkState(
        id=doc["Id"], name=doc["Name"], driver=doc.get("Driver") or "",
        scope=doc.get("Scope") or "local", internal=bool(doc.get("Internal")),
        options=FrozenMap({str(k): str(v) for k, v in (doc.get("Options") or {}).items()}),
        subnets=tuple(subnets), gateways=tuple(gateways),
        enable_ipv6=bool(doc.get("EnableIPv6")), subnets6=tuple(subnets6),
        gateways6=tuple(gateways6))


def _endpoint(name: str, settings: Mapping[str, Any]) -> EndpointState:
    address = None
    if ip := _ipv4(settings.get("IPAddress")):
        address = IPv4Interface(f"{ip}/{settings.get('IPPrefixLen') or 32}")
    address6 = None
    if ip6 := _ipv6(settings.get("GlobalIPv6Address")):
        address6 = IPv6Interface(f"{ip6}/{settings.get('GlobalIPv6PrefixLen') or 128}")
    dns_names = settings.get("DNSNames")
    return EndpointState(settings.get("NetworkID") or "", name, address,
                         (settings.get("MacAddress") or "").lower(),
                         _ipv4(settings.get("Gateway")),
                         tuple(settings.get("Aliases") or ()),
                         tuple(dns_names) if dns_names is not None else None,
                         address6, _ipv6(settings.get("IPv6Gateway")))


def _hidden_endpoints(network: Mapping[str, Any]) -> dict[str, EndpointState]:
    """A network inspect's endpoints by container id (`IPv4Address`, `IPv6Address` are
    CIDR there)."""
    found = {}
    for container_id, ep in (network.get("Containers") or {}).items():
        try:
            address = IPv4Interface(ep["IPv4Address"]) if ep.get("IPv4Address") else None
        except ValueError:
            address = None
        found[container_id] = EndpointState(network["Id"], network["Name"], address,
                                            (ep.get("MacAddress") or "").lower(), None,
                                            address6=_ipv6_interface(ep.get("IPv6Address")))
    return found


def parse_container(doc: Mapping[str, Any], extra: Iterable[EndpointState] = (),
                    route: DefaultRoute | None = None,
                    route6: DefaultRoute | None = None) -> ContainerState:
    """A container inspect, with endpoints it does not list (`extra`) and the default
    routes (IPv4, IPv6) read in its namespace."""
    state = doc.get("State") or {}
    settings = (doc.get("NetworkSettings") or {}).get("Networks") or {}
    endpoints = [_endpoint(name, s) for name, s in settings.items()]
    listed = {ep.network_id for ep in endpoints}
    endpoints += [ep for ep in extra if ep.network_id not in listed]
    mode = (doc.get("HostConfig") or {}).get("NetworkMode") or ""
    return ContainerState(
        id=doc["Id"], name=doc["Name"].lstrip("/"), running=bool(state.get("Running")),
        pid=int(state.get("Pid") or 0), network_mode=mode, endpoints=tuple(endpoints),
        gateway_network=_route_network(endpoints, route),
        hostname=(doc.get("Config") or {}).get("Hostname") or "",
        gateway_network6=_route_network(endpoints, route6, six=True))


def _route_network(endpoints: list[EndpointState], route: DefaultRoute | None,
                   six: bool = False) -> str | None:
    """The network whose endpoint the default route leaves by: the one whose gateway
    it goes through, else the one whose subnet holds that gateway; or, for a route
    with no gateway, the endpoint with the device's MAC. `six`: the IPv6 route,
    matched against the endpoints' IPv6 gateways and addresses (an IPv6 route by a
    link-local gateway, as a router advertises, is matched by the device's MAC)."""
    if route is None:
        return None
    if six and route.gateway is not None and route.gateway.is_link_local:
        route = DefaultRoute(None, route.device, route.device_mac)
    if route.gateway is None:
        return next((ep.network_id for ep in endpoints
                     if route.device_mac and ep.mac == route.device_mac.lower()
                     and (not six or ep.address6 is not None)), None)
    for ep in endpoints:
        if (ep.gateway6 if six else ep.gateway) == route.gateway:
            return ep.network_id
    return next((ep.network_id for ep in endpoints
                 if (address := ep.address6 if six else ep.address) is not None
                 and route.gateway in address.network), None)


def parse_host(name: str, address: IPv4Address, pid: int,
               networks: Iterable[Mapping[str, Any]], containers: Iterable[Mapping[str, Any]],
               routes: Mapping[int, DefaultRoute | None],
               routes6: Mapping[int, DefaultRoute | None] | None = None,
               address6: IPv6Address | None = None) -> HostState:
    """One host from its network list (or inspects: their `Containers` are endpoints
    the containers' inspects may leave out), its running containers' inspects (the
    list's order: newest first, as dockerd answers) and their default routes by pid
    (IPv4; IPv6 in `routes6`); `address6` is its IPv6 underlay address, if any."""
    routes6 = routes6 or {}
    docs = list(networks)
    hidden: dict[str, list[EndpointState]] = {}
    for doc in docs:
        for container_id, ep in _hidden_endpoints(doc).items():
            hidden.setdefault(container_id, []).append(ep)
    parsed = [parse_container(doc, hidden.get(doc["Id"], ()),
                              routes.get(_pid(doc)), routes6.get(_pid(doc)))
              for doc in reversed(list(containers))]
    return HostState(name, address, pid, FrozenMap((d["Id"], parse_network(d)) for d in docs),
                     tuple(c for c in parsed if c.running), address6)


def _pid(doc: Mapping[str, Any]) -> int:
    return int((doc.get("State") or {}).get("Pid") or 0)


def _has_ipv6(doc: Mapping[str, Any]) -> bool:
    """Whether the engine gives the container an IPv6 address on some network."""
    networks = (doc.get("NetworkSettings") or {}).get("Networks") or {}
    return any(settings.get("GlobalIPv6Address") for settings in networks.values())


# -- reading a live host ------------------------------------------------------------


def read_host(name: str, address: IPv4Address, pid: int, api: EngineAPI,
              route_of: RouteReader | None = None, route6_of: RouteReader | None = None,
              address6: IPv6Address | None = None) -> HostState:
    """The state of one host through its Engine API (`api`: a docker-py APIClient or
    anything with its four read calls); default routes by `route_of(pid)` and
    `route6_of(pid)`, from the kernel unless a test says otherwise (a test giving
    `route_of` alone gets no IPv6 routes: its pids are no real namespaces)."""
    if route6_of is None:
        route6_of = read_default_route6 if route_of is None else (lambda _pid: None)
    route_of = route_of or read_default_route
    networks = api.networks()
    docs = []
    for summary in api.containers():
        try:
            docs.append(api.inspect_container(summary["Id"]))
        except docker.errors.NotFound:
            continue  # removed between the list and the inspect
    networks = [api.inspect_network(n["Id"]) if n["Name"] == GWBRIDGE else n for n in networks]
    routes, routes6 = {}, {}
    for doc in docs:
        state = doc.get("State") or {}
        mode = (doc.get("HostConfig") or {}).get("NetworkMode")
        if state.get("Running") and state.get("Pid") and mode not in ("host", "none"):
            routes[int(state["Pid"])] = route_of(int(state["Pid"]))
            if _has_ipv6(doc):
                routes6[int(state["Pid"])] = route6_of(int(state["Pid"]))
    return parse_host(name, address, pid, networks, docs, routes, routes6, address6)


def read_lab(lab) -> LabState:
    """Every Docker host of a running lab through its Engine API socket, whatever
    engine it runs, plus the outside host."""
    hosts = []
    for host in lab.hosts.values():
        client = docker.APIClient(base_url=lab.docker_host_url(host.name), version=API_VERSION,
                                  timeout=TIMEOUT_S)
        pid = lab.node_pid(host.name)
        try:
            hosts.append(read_host(host.name, host.address, pid, client,
                                   address6=underlay_address6(pid, host.address)))
        finally:
            client.close()
    outside = lab.node_pid("outside")
    return LabState(tuple(hosts), outside, lab.outside_address,
                    underlay_address6(outside, lab.outside_address))


def underlay_address6(pid: int, beside: IPv4Address) -> IPv6Address | None:
    """The global IPv6 address, if any, on the interface that holds the IPv4 address
    `beside` in the namespace of `pid` (a host's underlay interface)."""
    candidates = [a for a in addresses6(pid) if a.scope == SCOPE_GLOBAL and a.usable]
    if not candidates:
        return None
    ns = Namespace.of_pid(pid)
    try:
        refuse_machine_namespace(ns)
        with ns.entered(), Rtnl() as rtnl:
            index = next((i for i, iface in rtnl.addresses() if iface.ip == beside), None)
    finally:
        ns.close()
    return next((a.interface.ip for a in candidates if a.ifindex == index), None)


def parse_route_table(text: str) -> DefaultRoute | None:
    """The lowest-metric IPv4 default route of a `/proc/net/route` table (which names
    the device, not its MAC)."""
    best: tuple[int, IPv4Address | None, str] | None = None
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, destination, gateway, flags, metric, mask = (
            fields[0], fields[1], fields[2], int(fields[3], 16), int(fields[6]), fields[7])
        if int(destination, 16) or int(mask, 16) or not flags & RTF_UP:
            continue
        via = (IPv4Address(int(gateway, 16).to_bytes(4, sys.byteorder))
               if flags & RTF_GATEWAY else None)
        if best is None or metric < best[0]:
            best = (metric, via, iface)
    if best is None:
        return None
    return DefaultRoute(best[1], best[2])


def read_default_route(pid: int) -> DefaultRoute | None:
    """The default route in the network namespace of `pid`. /proc/PID/net is that
    namespace's view, so no switch is needed unless the route has no gateway: then
    the device's MAC is read inside it, to match the endpoint the engine reports."""
    try:
        with open(f"/proc/{pid}/net/route") as handle:
            route = parse_route_table(handle.read())
    except (FileNotFoundError, ProcessLookupError):
        return None  # the container ended meanwhile
    if route is None or route.gateway is not None:
        return route
    ns = Namespace.of_pid(pid)
    try:
        refuse_machine_namespace(ns)
        with ns.entered(), Rtnl() as rtnl:
            link = rtnl.link(route.device)
    finally:
        ns.close()
    return DefaultRoute(None, route.device, link.mac if link else None)


def parse_route6_table(text: str) -> DefaultRoute | None:
    """The lowest-metric usable IPv6 default route of a `/proc/net/ipv6_route` table
    (destination ::/0, up, not a reject route such as the kernel's `unreachable`)."""
    best: tuple[int, IPv6Address | None, str] | None = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 10:
            continue
        destination, length, gateway, metric, flags, iface = (
            fields[0], int(fields[1], 16), fields[4], int(fields[5], 16), int(fields[8], 16),
            fields[9])
        if int(destination, 16) or length or not flags & RTF_UP or flags & RTF_REJECT:
            continue
        via = IPv6Address(bytes.fromhex(gateway)) if flags & RTF_GATEWAY else None
        if best is None or metric < best[0]:
            best = (metric, via, iface)
    if best is None:
        return None
    return DefaultRoute(best[1], best[2])


def read_default_route6(pid: int) -> DefaultRoute | None:
    """The IPv6 default route in the network namespace of `pid` (read_default_route's
    twin; the device's MAC is read where the route names no usable gateway)."""
    try:
        with open(f"/proc/{pid}/net/ipv6_route") as handle:
            route = parse_route6_table(handle.read())
    except (FileNotFoundError, ProcessLookupError):
        return None
    if route is None or route.gateway is not None and not route.gateway.is_link_local:
        return route
    ns = Namespace.of_pid(pid)
    try:
        refuse_machine_namespace(ns)
        with ns.entered(), Rtnl() as rtnl:
            link = rtnl.link(route.device)
    finally:
        ns.close()
    return DefaultRoute(route.gateway, route.device, link.mac if link else None)
