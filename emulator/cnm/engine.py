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
from pathlib import Path

from emulator.cnm.containers import ContainerOps
from emulator.cnm.endpoints import AttachRequest, EndpointOps
from emulator.cnm.globalscope import GlobalOps, GlobalStore
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.cnm.model import Container, Network
from emulator.cnm.networks import NetworkOps, NetworkRequest
from emulator.cnm.swarm import SwarmOps
from emulator.drivers import registry
from emulator.drivers.base import Driver
from emulator.drivers.remote.client import PluginError
from emulator.drivers.remote.discovery import discover
from emulator.drivers.remote.driver import RemoteDriver
from emulator.errdefs import DockerError, NotFound
from emulator.fabric.base import HostFabric
from emulator.ipam import AddressSpace
from emulator.swarm.cluster import SwarmDirectory

__all__ = ["AttachRequest", "Engine", "NetworkRequest"]


class Engine(NetworkOps, ContainerOps, EndpointOps, SwarmOps, GlobalOps):
    def __init__(self, host: str, fabric: HostFabric,
                 reserved: Iterable[IPv4Network] = (), advertise: IPv4Address | None = None,
                 swarm_directory: SwarmDirectory | None = None,
                 plugin_dir: Path | None = None, global_store: GlobalStore | None = None,
                 plugin_timeout: float = 10.0) -> None:
        self.host = host
        self.plugin_dir = plugin_dir
        self.plugin_timeout = plugin_timeout
        self.global_store = global_store or GlobalStore()
        self.global_store.engines[host] = self
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
        self.lifecycle = ContainerLifecycle(self)

    def _notify(self, containers: list[Container]) -> None:
        """Tell the owner that these containers' processes started or ended."""
        if self.on_change is not None and containers:
            self.on_change(containers)

    # -- drivers -------------------------------------------------------------

    def driver(self, name: str) -> Driver:
        """A built-in driver, or a plugin found in this host's plugin directory."""
        if name not in self.drivers:
            try:
                factory = registry.lookup(name)
            except NotFound:
                self.drivers[name] = self._plugin(name)
            else:
                self.drivers[name] = factory(self.fabric)
        return self.drivers[name]

    def _plugin(self, name: str) -> Driver:
        try:
            address = discover(self.plugin_dir, name)
        except PluginError as exc:
            raise DockerError(f'error looking up network driver "{name}": {exc}') from None
        if address is None:
            raise NotFound(f'plugin "{name}" not found')
        return RemoteDriver.activate(address, self.fabric, self.plugin_timeout,  # type: ignore[return-value]
                                     self.advertise)

    def driver_of(self, network: Network) -> Driver:
        return self.driver(network.driver)

    def _refresh_plugin_isolation(self) -> None:
        """Keep the host's firewall dropping routed traffic between plugin networks."""
        subnets = []
        for network in self.networks.values():
            driver = self.drivers.get(network.driver)
            if isinstance(driver, RemoteDriver) and network.pool_id is not None:
                subnets.append(self._space(network).pool(network.pool_id).subnet)
        if subnets or getattr(self.drivers.get("bridge"), "_foreign", None):
            self.driver("bridge").isolate_foreign(subnets)  # type: ignore[attr-defined]

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


