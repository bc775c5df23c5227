"""Who should reach whom, derived from the lab's Engine API state, never written by hand.

Nodes are the things probes go between: every address of every container, each
Docker host (its underlay address) and the outside host. The rules are Docker's:
containers on a shared bridge network reach each other unless ICC is off; a
routed hop between two bridge networks is dropped; an internal network has no
way out; a container reaches its own Docker host through its default route (the
one its namespace has), and beyond it only through one on a network that is not
internal and masquerades; a Docker host reaches every container of its
own (except on an overlay); nothing outside a Docker host reaches its containers;
`none` reaches nothing; a `host`-mode container is its Docker host.

Swarm scope: a swarm-scoped (overlay) network has the same ID on every host, so two
endpoints on it share one layer-2 segment wherever their hosts are; no Docker host
has an address on an overlay, so a host never reaches a container at its overlay
address, only at a bridge address such as its `docker_gwbridge` one (the bridge
where overlay containers get their way out, with ICC off and masquerading, read
from its options like any bridge).

The state is what each host's Engine API answers (`apistate`), so the same rules
judge a host running the emulated engine and one running a real dockerd.

IPv6 (Docker 28, ip6tables on by default): every rule holds per family. A
container's IPv6 address is a node of its own (same name, family ipv6); two
containers reach each other over IPv6 on a shared network where both have an
IPv6 address, never across networks; a container reaches its own host over IPv6
through its IPv6 default route (none on an internal network), and beyond it only
through a network that is not internal and masquerades IPv6 (NAT66: masquerade on
and `gateway_mode_ipv6` nat, the default); a Docker host reaches a container's IPv6
address on its bridge where that bridge has an IPv6 gateway. Docker hosts and the
outside host are IPv6 targets only where they have an IPv6 underlay address.
Who-is-on-the-link is ARP for IPv4 targets and neighbour solicitation (`ndp`) for
IPv6 ones; unlike ARP, a solicitation between two containers of a bridge with ICC
off is dropped (it crosses ip6tables' `-i br -o br -j DROP`, as every bridged IPv6
packet does there). Containers of an internal network reach each other over IPv6
(neighbour solicitations included) even where bridged IPv6 meets ip6tables: 28's
internal rules are `-i br ! -o br ! -d PREFIX -j DROP` and its mirror (moby/moby#45649),
while 20.10's, without the `! -o br`, drop them. Docker 20.10 without `--experimental
--ip6tables` has no IPv6 isolation at all; these rules are 28's, and the differential
says where 20.10 differs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from emulator.probes.apistate import ContainerState, LabState, NetworkState, read_lab
from emulator.probes.model import IPV6, NDP, ProbeTarget, family_of

INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4"
ENABLE_ICC = "com.docker.network.bridge.enable_icc"
ENABLE_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
GATEWAY_MODE_IPV6 = "com.docker.network.bridge.gateway_mode_ipv6"
NAT_MODES = ("nat", "nat-unprotected")  # the IPv6 gateway modes that masquerade


@dataclass(frozen=True)
class Node:
    name: str
    kind: str  # "container", "dockerhost" or "outside"
    host: str | None
    pid: int
    address: IPv4Address | IPv6Address | None
    container: ContainerState | None = None
    network: NetworkState | None = None

    @property
    def target(self) -> ProbeTarget:
        return ProbeTarget(self.name, self.pid, self.address)

    @property
    def family(self) -> str:
        return family_of(self.address)


def _state(lab: LabState | object) -> LabState:
    """A lab's state as its Engine APIs tell it now, unless one is given."""
    return lab if isinstance(lab, LabState) else read_lab(lab)


def lab_sources(lab: LabState | object, include_hosts: bool = True,
                include_outside: bool = True,
                containers: Collection[str] | None = None) -> list[Node]:
    """One node per namespace that sends probes: each container, Docker host, outside."""
    sources: list[Node] = []
    seen: set[str] = set()
    for node in lab_nodes(lab, include_hosts, include_outside, containers, ipv6=True):
        key = node.container.id if node.container else node.name
        if key in seen:
            continue
        seen.add(key)
        name = node.name.split("@")[0]
        sources.append(Node(name, node.kind, node.host, node.pid, node.address, node.container))
    return sources


def lab_nodes(lab: LabState | object, include_hosts: bool = True,
              include_outside: bool = True,
              containers: Collection[str] | None = None, ipv6: bool = False) -> list[Node]:
    """Every probe-able address of a running lab (a node per container address),
    containers first; only the containers named `host/name` in `containers` if given.
    `lab`: a LabState, or a running lab to read one from. With `ipv6`, every IPv6
    address too, as a node named like its IPv4 twin (its family tells them apart):
    each follows the IPv4 node of the same endpoint, the hosts' and the outside
    host's after theirs, where they have one."""
    state = _state(lab)
    nodes: list[Node] = []
    for host in state.hosts:
        for container in host.containers:
            if not container.running:
                continue
            name = f"{host.name}/{container.name}"
            if containers is not None and name not in containers:
                continue
            if container.shares_host:
                nodes.append(Node(name, "container", host.name, container.pid, host.address,
                                  container))
                if ipv6 and host.address6 is not None:
                    nodes.append(Node(name, "container", host.name, container.pid,
                                      host.address6, container))
                continue
            addressed = [(host.networks[ep.network_id], ep) for ep in container.endpoints
                         if (ep.address is not None or ipv6 and ep.address6 is not None)
                         and ep.network_id in host.networks]
            if not addressed:
                nodes.append(Node(name, "container", host.name, container.pid, None, container))
            for network, ep in addressed:
                suffix = f"@{network.name}" if len(addressed) > 1 else ""
                for address in (ep.address, ep.address6 if ipv6 else None):
                    if address is not None:
                        nodes.append(Node(name + suffix, "container", host.name, container.pid,
                                          address.ip, container, network))
    if include_hosts:
        for host in state.hosts:
            nodes.append(Node(host.name, "dockerhost", host.name, host.pid, host.address))
            if ipv6 and host.address6 is not None:
                nodes.append(Node(host.name, "dockerhost", host.name, host.pid, host.address6))
    if include_outside:
        nodes.append(Node("outside", "outside", None, state.outside_pid, state.outside_address))
        if ipv6 and state.outside_address6 is not None:
            nodes.append(Node("outside", "outside", None, state.outside_pid,
                              state.outside_address6))
    return nodes


def has_ipv6(lab: LabState | object) -> bool:
    """Whether any running container of the lab has an IPv6 address (the IPv6 columns
    of a matrix exist only then)."""
    state = _state(lab)
    return any(ep.address6 is not None for host in state.hosts for c in host.containers
               if c.running for ep in c.endpoints)


def _icc(network: NetworkState) -> bool:
    return network.driver != "bridge" or network.flag(ENABLE_ICC, True)


def _masquerades(network: NetworkState) -> bool:
    return network.flag(ENABLE_MASQUERADE, True)


def _masquerades6(network: NetworkState) -> bool:
    """NAT66 as Docker 28 does it: masquerade on and the IPv6 gateway mode a NAT one."""
    return _masquerades(network) and network.options.get(GATEWAY_MODE_IPV6, "nat") in NAT_MODES


def _has_gateway6(network: NetworkState) -> bool:
    """A bridge with an IPv6 address on it (none in gateway mode `isolated`)."""
    return (network.driver == "bridge" and network.enable_ipv6 and bool(network.subnets6)
            and network.options.get(GATEWAY_MODE_IPV6) != "isolated")


def _segment_of(host: str | None, network: NetworkState) -> object:
    """A local network is a segment of its host; a swarm network is one segment
    across the swarm (its ID is the same on every host)."""
    return ("swarm", network.id) if network.scope == "swarm" else (host, network.id)


def _is_host_like(node: Node) -> bool:
    return node.kind == "dockerhost" or (
        node.container is not None and node.container.shares_host)


def _container_networks(state: LabState, ipv6: bool) -> tuple[
        dict[str, list[NetworkState]], dict[str, NetworkState | None]]:
    """Per container ID: the networks where it has an address of the family, and the
    network holding its default route of that family (None without one)."""
    networks: dict[str, list[NetworkState]] = {}
    gateway_network: dict[str, NetworkState | None] = {}
    for host in state.hosts:
        for container in host.containers:
            networks[container.id] = [
                host.networks[ep.network_id] for ep in container.endpoints
                if (ep.address6 if ipv6 else ep.address) is not None
                and ep.network_id in host.networks]
            gw = container.gateway_network6 if ipv6 else container.gateway_network
            gateway_network[container.id] = host.networks.get(gw) if gw else None
    return networks, gateway_network


class Expectations:
    """expected(src, dst) for the nodes of one lab (a LabState, or a running lab to
    read one from)."""

    def __init__(self, lab: LabState | object) -> None:
        state = _state(lab)
        self._bridges = {
            host.name: {n.id for n in host.networks.values()
                        if n.driver == "bridge" and n.subnets
                        and n.options.get(INHIBIT_IPV4) != "true"}
            for host in state.hosts
        }
        self._networks, self._gateway_network = _container_networks(state, ipv6=False)
        self._v6 = _Ipv6Rules(state)

    def reaches(self, src: Node, dst: Node, protocol: str = "icmp") -> bool:
        if dst.address is None or src.pid == dst.pid and src.address == dst.address:
            return False
        if dst.family == IPV6:
            return self._v6.reaches(src, dst, protocol)
        if protocol == "arp":
            return self._segment(dst) in self._segments(src)
        if src.kind == "outside":
            return dst.kind == "dockerhost" or (_is_host_like(dst) and dst.kind == "container")
        if _is_host_like(src):
            return self._from_host(src, dst)
        return self._from_container(src, dst)

    def _segment(self, node: Node) -> object:
        return _segment(node)

    def _segments(self, node: Node) -> set[object]:
        """The segments a namespace has an address on (where it can ask who-has)."""
        if node.kind == "outside":
            return {"underlay"}
        if _is_host_like(node):
            return {"underlay", *((node.host, n) for n in self._bridges.get(node.host, ()))}
        assert node.container is not None
        return {_segment_of(node.host, n) for n in self._networks.get(node.container.id, [])}

    def _from_host(self, src: Node, dst: Node) -> bool:
        if dst.kind in ("dockerhost", "outside") or _is_host_like(dst):
            return True
        # Not on an overlay: its bridge lives in a namespace of its own, and the host
        # has no address on it.
        return (dst.host == src.host and dst.network is not None
                and dst.network.scope != "swarm"
                and dst.network.options.get(INHIBIT_IPV4) != "true")

    def _from_container(self, src: Node, dst: Node) -> bool:
        assert src.container is not None
        mine = self._networks.get(src.container.id, [])
        if not mine:
            return False
        if dst.kind == "container" and not _is_host_like(dst):
            if dst.network is None:
                return False
            shared = [n for n in mine if n.id == dst.network.id]
            if not shared or _segment_of(src.host, shared[0]) != self._segment(dst):
                return False
            return _icc(shared[0])
        gateway = self._gateway_network.get(src.container.id)
        if _is_host_like(dst) and dst.host == src.host:
            return gateway is not None
        # Docker 20.10 gives a container on an internal network a default route too
        # (28 gives none): it reaches its own host by it, and the host drops the rest.
        return gateway is not None and not gateway.internal and _masquerades(gateway)


class _Ipv6Rules:
    """Expectations.reaches for IPv6 targets (Docker 28: as IPv4, family by family)."""

    def __init__(self, state: LabState) -> None:
        self._hosts = {host.name for host in state.hosts if host.address6 is not None}
        self._outside = state.outside_address6 is not None
        self._bridges = {host.name: {n.id for n in host.networks.values() if _has_gateway6(n)}
                         for host in state.hosts}
        self._networks, self._gateway_network = _container_networks(state, ipv6=True)

    def reaches(self, src: Node, dst: Node, protocol: str) -> bool:
        if src.container is not None and dst.container is not None and (
                src.container.id == dst.container.id):
            return False
        if protocol == NDP:
            if _segment(dst) not in self._segments(src):
                return False
            # ICC off: Docker 28 passes bridged IPv6 through ip6tables (br_netfilter),
            # where `-i br -o br -j DROP` drops neighbour solicitations too; ARP is
            # not filtered there, so IPv4 neighbours still resolve each other.
            return not (src.kind == dst.kind == "container" and dst.network is not None
                        and not _is_host_like(src) and not _icc(dst.network))
        if src.kind == "outside":
            return self._outside and _is_host_like(dst)
        if _is_host_like(src):
            return self._from_host(src, dst)
        return self._from_container(src, dst)

    def _segments(self, node: Node) -> set[object]:
        if node.kind == "outside":
            return {"underlay"} if self._outside else set()
        if _is_host_like(node):
            underlay = {"underlay"} if node.host in self._hosts else set()
            return underlay | {(node.host, n) for n in self._bridges.get(node.host, ())}
        assert node.container is not None
        return {_segment_of(node.host, n) for n in self._networks.get(node.container.id, [])}

    def _from_host(self, src: Node, dst: Node) -> bool:
        if dst.kind in ("dockerhost", "outside") or _is_host_like(dst):
            return src.host in self._hosts
        return (dst.host == src.host and dst.network is not None
                and dst.network.scope != "swarm"
                and (dst.network.driver != "bridge"
                     or dst.network.id in self._bridges.get(src.host or "", ())))

    def _from_container(self, src: Node, dst: Node) -> bool:
        assert src.container is not None
        mine = self._networks.get(src.container.id, [])
        if not mine:
            return False
        if dst.kind == "container" and not _is_host_like(dst):
            if dst.network is None:
                return False
            shared = [n for n in mine if n.id == dst.network.id]
            if not shared or _segment_of(src.host, shared[0]) != _segment(dst):
                return False
            return _icc(shared[0])
        gateway = self._gateway_network.get(src.container.id)
        if _is_host_like(dst) and dst.host == src.host:
            return gateway is not None
        return (gateway is not None and not gateway.internal and _masquerades6(gateway)
                and src.host in self._hosts)


def _segment(node: Node) -> object:
    """The layer-2 segment an address sits on: the underlay, a bridge of a host, or a
    swarm-wide overlay."""
    if node.kind == "container" and not _is_host_like(node) and node.network is not None:
        return _segment_of(node.host, node.network)
    return "underlay"
