"""What one engine's parts share: the host's CNM state, drivers, addresses, one lock.

Declared once here, so that the engine's parts (networks, endpoints, containers,
swarm membership) are given it explicitly instead of sharing undeclared
attributes of one object.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from emulator.cnm.events import EventBus
from emulator.cnm.model import Container, Network
from emulator.cnm.resolver import EmbeddedDns
from emulator.drivers.base import Capability, Driver
from emulator.drivers.hostfirewall import FirewallPart, HostFirewall
from emulator.drivers.registry import DriverRegistry
from emulator.fabric.base import HostFabric
from emulator.ipam import AddressSpace


class Registry(dict):
    """A dict that remembers which keys were set or removed, in the order they first
    were, until `take_changes`."""

    def __init__(self) -> None:
        super().__init__()
        self._changed: dict = {}

    def take_changes(self) -> list:
        changed, self._changed = self._changed, {}
        return list(changed)

    def __setitem__(self, key, value) -> None:
        self._changed[key] = None
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        self._changed[key] = None
        super().__delitem__(key)

    def pop(self, key, *default):
        self._changed[key] = None
        return super().pop(key, *default)

    def setdefault(self, key, default=None):
        self._changed[key] = None
        return super().setdefault(key, default)

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def popitem(self):
        key, value = super().popitem()
        self._changed[key] = None
        return key, value

    def clear(self) -> None:
        self._changed.update(dict.fromkeys(self))
        super().clear()


PLUGIN_ISOLATION = "plugin network "
"""The host firewall's key of a plugin network's part, followed by the network's ID."""


@dataclass
class HostState:
    host: str
    fabric: HostFabric
    drivers: DriverRegistry
    firewall: HostFirewall
    reserved: list[IPv4Network]
    addresses: AddressSpace = field(default_factory=AddressSpace)
    networks: Registry = field(default_factory=Registry)
    """By ID; which were added or removed is told to the engine's view."""
    containers: dict[str, Container] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    dns: EmbeddedDns | None = None
    """The host's embedded DNS server, which containers on user-defined networks ask."""
    events: EventBus = field(default_factory=EventBus)
    """`docker events`: what the engine's parts publish as it happens."""
    _seen: set[str] = field(default_factory=set, init=False, repr=False)
    """The networks networks_changed last saw."""

    def driver_of(self, network: Network) -> Driver:
        return self.drivers.get(network.driver)

    def capability_of(self, network: Network) -> Capability:
        return self.drivers.capability(network.driver)

    def space(self, network: Network) -> AddressSpace:
        """The address space a network's pool lives in: a shared scope's, or the host's."""
        return network.address_space or self.addresses  # type: ignore[return-value]

    def space6(self, network: Network) -> AddressSpace:
        """The address space a network's IPv6 pool lives in (this host's, for a swarm
        network's)."""
        return network.address_space6 or self.space(network)  # type: ignore[return-value]

    def offers_gateway(self, network: Network) -> bool:
        capability = self.capability_of(network)
        return (not network.internal and capability.uses_ipam and capability.provides_gateway
                and (network.pool_id is not None or network.pool_id6 is not None))

    def networks_changed(self) -> None:
        """Keep the host firewall dropping routed traffic between the networks of drivers
        that ask for it (plugins), as dockerd's FORWARD policy DROP does: one part per
        such network, so that a change touches only the networks that came or went."""
        current = self.networks.keys()
        for net_id in self._seen - current:
            self.firewall.withdraw(PLUGIN_ISOLATION + net_id)
            self._seen.discard(net_id)
        for net_id in current - self._seen:
            network = self.networks[net_id]
            isolated = self.capability_of(network).isolated_by_host_firewall
            if isolated and network.pool_id is not None:
                subnet = self.space(network).pool(network.pool_id).subnet
                self.firewall.contribute(PLUGIN_ISOLATION + net_id,
                                         FirewallPart(isolated_subnets=(subnet,)))
            self._seen.add(net_id)
