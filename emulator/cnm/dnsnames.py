"""The names the embedded DNS knows, as libnetwork's service records hold them.

dockerd gives each endpoint a container has on a user-defined network its DNS
names (daemon's buildEndpointDNSNames: the container's name, its aliases on that
network, its short ID, its hostname, without repeats); libnetwork files them per
network (svcRecords: name -> IPv4 addresses in svcMap, name -> IPv6 addresses in
svcIPv6Map, address of either family -> first name in ipMap). A container asks
through its own endpoints: a name resolves only on a network it shares with the
target, and the answer is the target's address there (Sandbox.ResolveName). A
swarm-scoped network's records are the same on every node that has it (gossiped
by NetworkDB), so they hold the containers of every host; a global-scope plugin
network's hold only this host's (libnetwork's clusterAgent serves swarm scope only).

Everything here is built from engine views (`cnm/view.py`): plain copies no one
changes, so the resolver reads them from its own thread without a lock. A table
is built once per view and then answers in a few dictionary lookups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from emulator.cnm.model import Container, Endpoint, Network
from emulator.cnm.view import View
from emulator.drivers.base import SWARM
from emulator.swarm.cluster import GWBRIDGE


def dns_names(container: Container, aliases: Iterable[str]) -> list[str]:
    """moby's buildEndpointDNSNames: name, aliases, short ID, hostname, without repeats.
    The first one names the address in PTR answers."""
    return list(dict.fromkeys([container.name, *aliases, container.short_id,
                               container.hostname]))


def serves_names(network: Network) -> bool:
    """Whether containers on `network` get the embedded DNS and names there: user-defined
    networks (dockerd's NetworkMode.IsUserDefined), not the ingress (routing only)."""
    return not network.predefined and not network.ingress and network.name != GWBRIDGE


def named_endpoint(container: Container, network: Network) -> Endpoint | None:
    """The container's endpoint on `network` if it carries DNS names: one the user asked
    for (the docker_gwbridge endpoint libnetwork adds by itself has none)."""
    endpoint = container.endpoints.get(network.id)
    if (endpoint is None or container.hidden or network.id not in container.attachments
            or not serves_names(network)):
        return None
    return endpoint


Address = IPv4Address | IPv6Address


def reverse_name(address: Address) -> str:
    """The in-addr.arpa (IPv4) or ip6.arpa (IPv6, one label per nibble) name of
    `address`, without the trailing dot."""
    return address.reverse_pointer


@dataclass(frozen=True)
class Lookup:
    """What a name resolved to: `found` even with no address of the family asked
    (an IPv4-only container asked for AAAA, an IPv6-only one for A: NOERROR with no
    answer)."""

    found: bool
    addresses: tuple[Address, ...] = ()


NOT_FOUND = Lookup(False)


@dataclass
class NetworkRecords:
    """One network's svcRecords: lower-case name -> IPv4 addresses (svcMap) and ->
    IPv6 addresses (svcIPv6Map); reverse name of an address of either family -> PTR
    name (ipMap)."""

    name: str
    addresses: dict[str, list[IPv4Address]] = field(default_factory=dict)
    addresses6: dict[str, list[IPv6Address]] = field(default_factory=dict)
    pointers: dict[str, str] = field(default_factory=dict)

    def add(self, names: list[str], address: Address) -> None:
        by_name: dict = self.addresses6 if address.version == 6 else self.addresses
        for name in names:
            known = by_name.setdefault(name.lower(), [])
            if address not in known:
                known.append(address)
        self.pointers.setdefault(reverse_name(address), f"{names[0]}.{self.name}")

    def lookup(self, name: str, ipv6: bool) -> Lookup | None:
        """libnetwork's Network.ResolveName: None when neither family knows `name`
        (lower case), else its addresses of the family asked, perhaps none."""
        found4 = self.addresses.get(name)
        found6 = self.addresses6.get(name)
        if found4 is None and found6 is None:
            return None
        return Lookup(True, tuple((found6 if ipv6 else found4) or ()))


class NameTable:
    """Every network's records as of one set of views, and each container's networks in
    the order libnetwork searches them."""

    def __init__(self, local: View, peers: Iterable[View] = ()) -> None:
        self.records: dict[str, NetworkRecords] = {}
        self.search_order: dict[str, list[str]] = {}
        self.link_aliases: dict[tuple[str, str], dict[str, str]] = {}
        """(container, network) -> alias -> name: --link on a user-defined network, a
        name only that container resolves there (libnetwork's endpoint aliases)."""
        self._add_view(local, local_only=False)
        for view in peers:
            self._add_view(view, local_only=True)
        self._add_services(local)
        for cid, container in local.containers.items():
            if not container.running:  # its process may already ask: the view is behind
                continue
            nets = [local.networks[n] for n in container.endpoints if n in local.networks]
            self.search_order[cid] = [n.id for n in sorted(nets, key=_search_key)]
            for net_id, attachment in container.attachments.items():
                if attachment.links:
                    self.link_aliases[(cid, net_id)] = _link_aliases(attachment.links)

    def _add_view(self, view: View, local_only: bool) -> None:
        """A peer's view adds only its containers on swarm-scoped networks."""
        for container in view.containers.values():
            if not container.running:
                continue
            for net_id in container.endpoints:
                network = view.networks.get(net_id)
                if network is None or (local_only and network.scope != SWARM):
                    continue
                endpoint = named_endpoint(container, network)
                if endpoint is None:
                    continue
                addresses = [a.ip for a in (endpoint.address, endpoint.address6)
                             if a is not None]
                if not addresses:
                    continue
                records = self.records.get(net_id)
                if records is None:
                    records = self.records[net_id] = NetworkRecords(network.name)
                names = dns_names(container, endpoint.aliases)
                for address in addresses:
                    records.add(names, address)

    def _add_services(self, view: View) -> None:
        """Swarm services' names (the same on every node): after the containers', so a
        task's own name keeps its address's PTR record."""
        for net_id, names in view.services.items():
            network = view.networks.get(net_id)
            if network is None:
                continue
            records = self.records.get(net_id)
            if records is None:
                records = self.records[net_id] = NetworkRecords(network.name)
            for name, addresses in names.items():
                for address in addresses:
                    records.add([name], address)

    def knows(self, container_id: str) -> bool:
        """Whether the views show the container running (its queries can be answered)."""
        return container_id in self.search_order

    def resolve_name(self, container_id: str, name: str, ipv6: bool = False) -> Lookup:
        """Sandbox.ResolveName: `name` on the container's networks, else for a.b.c the
        name a.b on network c, then a on network b.c."""
        name = name.removesuffix(".")
        order = self.search_order.get(container_id, [])
        candidates = [(name, None)]
        rest = name
        while "." in rest:
            rest, _, _ = rest.rpartition(".")
            candidates.append((rest, name[len(rest) + 1:]))
        for wanted, network_name in candidates:
            key = wanted.lower()
            for by_alias in (True, False):
                for net_id in order:
                    records = self.records.get(net_id)
                    if records is None or (network_name is not None
                                           and network_name != records.name):
                        continue
                    aliases = self.link_aliases.get((container_id, net_id), {})
                    if by_alias != (key in aliases):
                        continue
                    found = records.lookup(aliases.get(key, key), ipv6)
                    if found is not None:
                        return found
        return NOT_FOUND

    def resolve_address(self, container_id: str, reverse: str) -> str | None:
        """Sandbox.ResolveIP: the PTR name (`name.network`) of an in-addr.arpa or
        ip6.arpa name (without its trailing dot) on the first of the container's
        networks knowing it."""
        for net_id in self.search_order.get(container_id, []):
            records = self.records.get(net_id)
            if records is not None and reverse in records.pointers:
                return records.pointers[reverse]
        return None


def _link_aliases(links: Iterable[str]) -> dict[str, str]:
    """NAME[:ALIAS] items as alias -> name (lower case, as names are looked up)."""
    aliases = {}
    for link in links:
        name, _, alias = link.partition(":")
        aliases[(alias or name).lower()] = name.lower()
    return aliases


def _search_key(network: Network) -> tuple[bool, bool, str]:
    """libnetwork's Endpoint.Less as it applies here: docker_gwbridge last, internal
    networks after the others, then by name."""
    return (network.name == GWBRIDGE, network.internal, network.name)
