"""Global-scope networks of plugin drivers: one network, usable on every host.

A plugin whose capabilities say Scope "global" (Weave, Calico, Contiv did) makes
networks that exist on every Docker host sharing a datastore; Docker used a cluster
store (Consul, etcd) for that. The emulator's datastore is this store, one per lab:
it holds the network definitions and a global address space, so a network created on
one host appears (same ID, same subnet) on every host whose plugin is running, and
no address is handed out twice across hosts.
"""

from __future__ import annotations

import threading
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from emulator.cnm.lookup import find
from emulator.cnm.model import Network
from emulator.cnm.sharedscope import ScopeMember
from emulator.drivers.base import GLOBAL, GlobalAllocator, IPAMData, NetworkSpec
from emulator.drivers.registry import DriverRegistry
from emulator.errdefs import NotFound
from emulator.ids import new_id
from emulator.ipam import AddressSpace
from emulator.ipam.pools import GLOBAL_DEFAULT_POOLS
from emulator.swarm.shared import SharedNetwork

if TYPE_CHECKING:
    from emulator.cnm.networks import NetworkRequest


class GlobalStore:
    """The lab's datastore for global-scope networks: definitions, addresses, and the
    engines that share it."""

    def __init__(self) -> None:
        self.networks: dict[str, SharedNetwork] = {}
        self.addresses = AddressSpace("GlobalDefault", GLOBAL_DEFAULT_POOLS)
        self.engines: dict[str, ScopeMember] = {}
        self.lock = threading.RLock()


class GlobalScope:
    """The store seen from one host, whose drivers allocate and free its networks."""

    name = GLOBAL

    def __init__(self, store: GlobalStore, drivers: DriverRegistry,
                 reserved: list[IPv4Network]) -> None:
        self.store = store
        self.lock = store.lock
        self.networks = store.networks
        self.addresses = store.addresses
        self._drivers = drivers
        self._reserved = reserved

    def members(self) -> list[ScopeMember]:
        return list(self.store.engines.values())

    def instantiate_on(self, creator: ScopeMember, definition: SharedNetwork
                       ) -> list[ScopeMember]:
        others = [e for e in self.store.engines.values()
                  if e is not creator and e.serves_driver(definition.driver)]
        return [creator, *others]

    def allocate(self, request: NetworkRequest) -> SharedNetwork:
        pool = self.addresses.request_pool(
            subnet=request.subnet, ip_range=request.ip_range, gateway=request.gateway,
            aux_addresses=dict(request.aux_addresses or {}), reserved=self._reserved)
        definition = SharedNetwork(
            new_id(), request.name, request.driver,
            {k: str(v) for k, v in (request.options or {}).items()},
            dict(request.labels or {}), request.internal, request.attachable, pool.id)
        self.networks[definition.id] = definition
        driver = self._drivers.get(request.driver)
        try:
            if isinstance(driver, GlobalAllocator):
                driver.allocate(NetworkSpec(definition.id, definition.name, definition.options),
                                IPAMData(pool.subnet))
        except Exception:
            self._forget(definition.id)
            raise
        return definition

    def release(self, network_id: str) -> None:
        definition = self.networks.get(network_id)
        if definition is None:
            return
        driver = self._drivers.get(definition.driver)
        if isinstance(driver, GlobalAllocator):
            driver.free(network_id)
        self._forget(network_id)

    def _forget(self, network_id: str) -> None:
        definition = self.networks.pop(network_id)
        self.addresses.release_pool(definition.pool_id)

    def check_removal(self, member: ScopeMember, network: Network) -> None:
        return None

    def find(self, ref: str) -> SharedNetwork | None:
        try:
            return find(list(self.networks.values()), ref, lambda n: n.id, lambda n: n.name,
                        f"network {ref} not found", "network")
        except NotFound:
            return None
