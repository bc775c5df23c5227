"""A LAN with macvlan containers and DHCP clients, and the truth about who owns what.

Shared by the `macvlan-conflicts` experiment and the `bench-conflicts` benchmark:
it builds the topology, starts the macvlan networks and containers, and reads back
from the kernel and the engines every (address, MAC) pair on the LAN, so a scan's
findings can be scored against what was really injected.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from emulator.fabric.netns import Namespace
from emulator.fabric.rtnl import Rtnl
from emulator.lab import Lab
from emulator.lab.dockerhost import ContainerHandle
from emulator.probes.conflicts import ConflictScan
from emulator.topology import Topology, topology_from_data
from emulator.topology.model import LAN_ROUTER_NAME

LAN_SUBNET = IPv4Network("198.51.100.0/24")
ROUTER = LAN_SUBNET.network_address + 1
CLIENT = "client"
CLIENT_ADDRESS = LAN_SUBNET.network_address + 10
NETWORK = "lan"


@dataclass(frozen=True)
class Owner:
    """Something on the LAN holding an address: a LAN host, a container, a host NIC."""

    kind: str
    name: str
    mac: str


def conflict_topology(name: str, mode: str, pool: tuple[IPv4Address, IPv4Address],
                      dhcp_hosts: int, static_hosts: dict[str, IPv4Address]) -> Topology:
    """Two Docker hosts on a LAN with `dhcp_hosts` DHCP clients and fixed-address hosts
    (always including the `client` that measures the impact of conflicts)."""
    hosts: dict[str, dict[str, str]] = {CLIENT: {"address": str(CLIENT_ADDRESS)}}
    hosts.update({f"vm{i:02d}": {} for i in range(1, dhcp_hosts + 1)})
    hosts.update({host: {"address": str(address)} for host, address in static_hosts.items()})
    return topology_from_data({
        "name": name,
        "hosts": {"h1": {}, "h2": {}},
        "lan": {"subnet": str(LAN_SUBNET), "mode": mode,
                "dhcp": {"range": f"{pool[0]}-{pool[1]}"}, "hosts": hosts},
    }, source=f"<{name} topology>")


def start_containers(lab: Lab, ip_ranges: dict[str, str], per_host: int,
                     fixed: dict[str, list[IPv4Address]] | None = None
                     ) -> list[ContainerHandle]:
    """On each Docker host a macvlan network on eth1 over the LAN subnet, with its own
    --ip-range, and `per_host` containers on it (some with fixed addresses)."""
    containers = []
    for host_name, ip_range in ip_ranges.items():
        host = lab.host(host_name)
        host.networks.create(NETWORK, "macvlan", subnet=str(LAN_SUBNET), gateway=str(ROUTER),
                             ip_range=ip_range, options={"parent": "eth1"})
        wanted = list((fixed or {}).get(host_name, []))
        for index in range(per_host):
            ip = str(wanted.pop(0)) if wanted else None
            containers.append(host.containers.run(f"{host_name}c{index:02d}", NETWORK, ip=ip))
    return containers


def nic_addresses(pid: int) -> list[tuple[IPv4Address, str, str]]:
    """(address, MAC, interface) of every LAN-subnet address in a node's namespace."""
    ns = Namespace.of_pid(pid)
    try:
        with ns.entered():
            rtnl = Rtnl()
    finally:
        ns.close()
    try:
        links = {link.index: link for link in rtnl.links()}
        return [(iface.ip, links[index].mac or "", links[index].name)
                for index, iface in rtnl.addresses()
                if iface.ip in LAN_SUBNET and index in links]
    finally:
        rtnl.close()


def lan_owners(lab: Lab, containers: list[ContainerHandle]) -> dict[IPv4Address, list[Owner]]:
    """Every address on the LAN and who holds it, read from the kernel and the engines."""
    lan = lab.topology.lan
    assert lan is not None
    owners: dict[IPv4Address, list[Owner]] = defaultdict(list)
    nodes = [(LAN_ROUTER_NAME, "router"), *((h.name, "lan-host") for h in lan.hosts),
             *((name, "docker-host") for name in lan.docker_hosts)]
    for name, kind in nodes:
        for address, mac, _ in nic_addresses(lab.node_pid(name)):
            owners[address].append(Owner(kind, name, mac))
    for container in containers:
        address, mac = container.ip(NETWORK), container.mac(NETWORK)
        if address is not None and mac is not None:
            owners[address].append(Owner("container", container.name, mac))
    return dict(owners)


def injected(owners: dict[IPv4Address, list[Owner]]) -> dict[IPv4Address, list[Owner]]:
    """Addresses held by more than one MAC: the conflicts a scan should find."""
    return {address: held for address, held in owners.items()
            if len({o.mac for o in held}) > 1}


@dataclass(frozen=True)
class Score:
    injected: int
    detected: int
    true_positives: int
    false_positives: tuple[IPv4Address, ...]
    misses: tuple[IPv4Address, ...]
    wrong_macs: tuple[IPv4Address, ...]

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.detected if self.detected else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.injected if self.injected else None

    @property
    def exact(self) -> bool:
        return not (self.false_positives or self.misses or self.wrong_macs)


def score(scan: ConflictScan, truth: dict[IPv4Address, list[Owner]],
          visible: set[IPv4Address] | None = None) -> Score:
    """Compare a scan's conflicts with the injected ones (restricted to `visible`
    addresses: a scanner cannot see conflicts on its own address)."""
    expected = {a: {o.mac for o in held} for a, held in truth.items()
                if visible is None or a in visible}
    found = {c.address: set(c.macs) for c in scan.conflicts}
    hits = [a for a in found if a in expected]
    return Score(
        injected=len(expected), detected=len(found), true_positives=len(hits),
        false_positives=tuple(sorted(a for a in found if a not in expected)),
        misses=tuple(sorted(a for a in expected if a not in found)),
        wrong_macs=tuple(sorted(a for a in hits if found[a] != expected[a])),
    )


def scan_targets() -> list[IPv4Address]:
    """Every usable LAN address but the router's own (the scanner's)."""
    return [a for a in LAN_SUBNET.hosts() if a != ROUTER]
