"""Who should reach whom, derived from the lab's CNM state, never written by hand.

Nodes are the things probes go between: every address of every container, each
Docker host (its underlay address) and the outside host. The rules are Docker's:
containers on a shared bridge network reach each other unless ICC is off; a
routed hop between two bridge networks is dropped; an internal network has no
way out; a container reaches its own Docker host, and beyond it only through a
default route with masquerading; a Docker host reaches every container of its
own (except on an overlay); nothing outside a Docker host reaches its containers;
`none` reaches nothing; a `host`-mode container is its Docker host.

Swarm scope: a swarm-scoped (overlay) network has the same ID on every host, so two
endpoints on it share one layer-2 segment wherever their hosts are; no Docker host
has an address on an overlay, so a host never reaches a container at its overlay
address, only at a bridge address such as its `docker_gwbridge` one (the bridge
where overlay containers get their way out, with ICC off and masquerading, read
from its options like any bridge).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Address

from emulator.cnm.model import Container, Network
from emulator.probes.model import ProbeTarget


@dataclass(frozen=True)
class Node:
    name: str
    kind: str  # "container", "dockerhost" or "outside"
    host: str | None
    pid: int
    address: IPv4Address | None
    container: Container | None = None
    network: Network | None = None

    @property
    def target(self) -> ProbeTarget:
        return ProbeTarget(self.name, self.pid, self.address)


def lab_sources(lab, include_hosts: bool = True, include_outside: bool = True,
                containers: Collection[str] | None = None) -> list[Node]:
    """One node per namespace that sends probes: each container, Docker host, outside."""
    sources: list[Node] = []
    seen: set[str] = set()
    for node in lab_nodes(lab, include_hosts, include_outside, containers):
        key = node.container.id if node.container else node.name
        if key in seen:
            continue
        seen.add(key)
        name = node.name.split("@")[0]
        sources.append(Node(name, node.kind, node.host, node.pid, node.address, node.container))
    return sources


def lab_nodes(lab, include_hosts: bool = True, include_outside: bool = True,
              containers: Collection[str] | None = None) -> list[Node]:
    """Every probe-able address of a running lab (a node per container address),
    containers first; only the containers named `host/name` in `containers` if given."""
    nodes: list[Node] = []
    for host in lab.hosts.values():
        engine = host.engine
        for container in engine.containers.values():
            if not container.running or container.sandbox is None:
                continue
            if containers is not None and f"{host.name}/{container.name}" not in containers:
                continue
            if container.sandbox.shares_host:
                nodes.append(Node(f"{host.name}/{container.name}", "container", host.name,
                                  container.pid, host.address, container))
                continue
            addressed = [(engine.networks[n], ep) for n, ep in container.endpoints.items()
                         if ep.address is not None]
            if not addressed:
                nodes.append(Node(f"{host.name}/{container.name}", "container", host.name,
                                  container.pid, None, container))
            for network, ep in addressed:
                suffix = f"@{network.name}" if len(addressed) > 1 else ""
                nodes.append(Node(f"{host.name}/{container.name}{suffix}", "container",
                                  host.name, container.pid, ep.address.ip, container, network))
    if include_hosts:
        for host in lab.hosts.values():
            nodes.append(Node(host.name, "dockerhost", host.name, lab.node_pid(host.name),
                              host.address))
    if include_outside:
        nodes.append(Node("outside", "outside", None, lab.node_pid("outside"),
                          lab.outside_address))
    return nodes


def _icc(network: Network) -> bool:
    return network.driver != "bridge" or network.options.get(
        "com.docker.network.bridge.enable_icc", "true") in ("true", "1", "t", "T", "TRUE", "True")


def _masquerades(network: Network) -> bool:
    return network.options.get("com.docker.network.bridge.enable_ip_masquerade", "true") in (
        "true", "1", "t", "T", "TRUE", "True")


def _segment_of(host: str | None, network: Network) -> object:
    """A local network is a segment of its host; a swarm network is one segment
    across the swarm (its ID is the same on every host)."""
    return ("swarm", network.id) if network.scope == "swarm" else (host, network.id)


def _is_host_like(node: Node) -> bool:
    return node.kind == "dockerhost" or (
        node.container is not None and node.container.sandbox is not None
        and node.container.sandbox.shares_host)


class Expectations:
    """expected(src, dst) for the nodes of one lab."""

    def __init__(self, lab) -> None:
        self._bridges = {
            host.name: {n.id for n in host.engine.networks.values()
                        if n.driver == "bridge" and n.pool_id is not None
                        and n.options.get("com.docker.network.bridge.inhibit_ipv4") != "true"}
            for host in lab.hosts.values()
        }
        self._networks: dict[str, list[Network]] = {}
        self._gateway_network: dict[str, Network | None] = {}
        for host in lab.hosts.values():
            engine = host.engine
            for container in engine.containers.values():
                nets = [engine.networks[n] for n, ep in container.endpoints.items()
                        if ep.address is not None]
                self._networks[container.id] = nets
                gw = container.gateway_network
                self._gateway_network[container.id] = engine.networks.get(gw) if gw else None

    def reaches(self, src: Node, dst: Node, protocol: str = "icmp") -> bool:
        if dst.address is None or src.pid == dst.pid and src.address == dst.address:
            return False
        if protocol == "arp":
            return self._segment(dst) in self._segments(src)
        if src.kind == "outside":
            return dst.kind == "dockerhost" or (_is_host_like(dst) and dst.kind == "container")
        if _is_host_like(src):
            return self._from_host(src, dst)
        return self._from_container(src, dst)

    def _segment(self, node: Node) -> object:
        """The layer-2 segment an address sits on: the underlay, a bridge of a host, or
        a swarm-wide overlay."""
        if node.kind == "container" and not _is_host_like(node) and node.network is not None:
            return _segment_of(node.host, node.network)
        return "underlay"

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
                and dst.network.scope != "swarm" and dst.network.options.get(
                    "com.docker.network.bridge.inhibit_ipv4") != "true")

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
        return gateway is not None and _masquerades(gateway)
