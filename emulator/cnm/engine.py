"""One emulated Docker daemon: the CNM state of one host and Docker's rules.

The engine decides (names, addresses, which operations are allowed, in which
order) and asks drivers to act; it never touches the kernel itself. Every
request is validated completely before the first driver call, and a failure
part-way is rolled back, so a rejected request leaves nothing behind. Its
operations live in three mixins: networks, containers, and the endpoints that
join them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network

from emulator.cnm.containers import ContainerOps
from emulator.cnm.endpoints import AttachRequest, EndpointOps
from emulator.cnm.model import Container, Network
from emulator.cnm.networks import NetworkOps, NetworkRequest
from emulator.cnm.swarm import SwarmOps
from emulator.drivers import registry
from emulator.drivers.base import Driver
from emulator.fabric.base import HostFabric
from emulator.ipam import AddressSpace
from emulator.swarm.cluster import SwarmDirectory

__all__ = ["AttachRequest", "Engine", "NetworkRequest"]


class Engine(NetworkOps, ContainerOps, EndpointOps, SwarmOps):
    def __init__(self, host: str, fabric: HostFabric,
                 reserved: Iterable[IPv4Network] = (), advertise: IPv4Address | None = None,
                 swarm_directory: SwarmDirectory | None = None) -> None:
        self.host = host
        self.advertise = advertise
        self.swarm_directory = swarm_directory
        self.swarm = None
        self.swarm_node = None
        self.fabric = fabric
        self.reserved = list(reserved)
        self.addresses = AddressSpace()
        self.networks: dict[str, Network] = {}
        self.containers: dict[str, Container] = {}
        self.drivers: dict[str, Driver] = {}
        self._lock = threading.RLock()
        self.on_change: Callable[[list[Container]], None] | None = None
        self._create_predefined()

    def _notify(self, containers: list[Container]) -> None:
        """Tell the owner that these containers' processes started or ended."""
        if self.on_change is not None and containers:
            self.on_change(containers)

    # -- drivers -------------------------------------------------------------

    def driver(self, name: str) -> Driver:
        if name not in self.drivers:
            factory = registry.lookup(name)
            self.drivers[name] = factory(self.fabric)
        return self.drivers[name]

    def driver_of(self, network: Network) -> Driver:
        return self.driver(network.driver)

    # -- networks ------------------------------------------------------------

    def check(self) -> list[str]:
        """CNI-style CHECK of every endpoint: what drifted from the CNM state."""
        with self._lock:
            problems = []
            for network in self.networks.values():
                for ep in network.endpoints.values():
                    for problem in self.driver_of(network).check(network.id, ep.id):
                        problems.append(f"{network.name}/{ep.name}: {problem}")
            return problems

    def close(self) -> None:
        """Remove every container and network, predefined ones included."""
        with self._lock:
            self.remove_containers(list(self.containers), force=True)
            for network in list(self.networks.values()):
                self._delete(network)


