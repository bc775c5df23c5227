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
from dataclasses import dataclass, field
from typing import Any

from emulator import errdefs as err
from emulator.cnm.lookup import find
from emulator.cnm.model import Network
from emulator.cnm.networks import NetworkRequest, refuse_if_in_use
from emulator.drivers.base import IPAMData, NetworkSpec
from emulator.ids import docker_timestamp, new_id
from emulator.ipam import AddressSpace, check_ipam_config
from emulator.ipam.pools import GLOBAL_DEFAULT_POOLS


@dataclass
class GlobalNetwork:
    id: str
    name: str
    driver: str
    options: dict[str, str]
    labels: dict[str, str]
    internal: bool
    attachable: bool
    pool_id: str
    created: str = field(default_factory=docker_timestamp)


class GlobalStore:
    """The lab's datastore for global-scope networks."""

    def __init__(self) -> None:
        self.networks: dict[str, GlobalNetwork] = {}
        self.addresses = AddressSpace("GlobalDefault", GLOBAL_DEFAULT_POOLS)
        self.engines: dict[str, Any] = {}
        self.lock = threading.RLock()


class GlobalOps:
    """Mixed into Engine: creating, instantiating and removing global networks."""

    global_store: GlobalStore

    def _create_global_network(self, request: NetworkRequest, driver) -> Network:
        if request.subnet is not None or request.ip_range or request.gateway:
            check_ipam_config(request.subnet, request.ip_range, request.gateway,
                              dict(request.aux_addresses or {}))
        store = self.global_store
        with store.lock:
            taken = [*self.networks.values(), *store.networks.values()]
            if any(n.name == request.name for n in taken):
                raise err.Conflict(f"network with name {request.name} already exists")
            pool = store.addresses.request_pool(
                subnet=request.subnet, ip_range=request.ip_range, gateway=request.gateway,
                aux_addresses=dict(request.aux_addresses or {}), reserved=self.reserved)
            definition = GlobalNetwork(
                new_id(), request.name, driver.name,
                {k: str(v) for k, v in (request.options or {}).items()},
                dict(request.labels or {}), request.internal, request.attachable, pool.id)
            store.networks[definition.id] = definition
            made = []
            try:
                driver.allocate(NetworkSpec(definition.id, definition.name,
                                            definition.options), IPAMData(pool.subnet))
                for engine in [self, *(e for e in store.engines.values() if e is not self)]:
                    if engine is self or engine._has_plugin(driver.name):
                        engine._instantiate_global(definition)
                        made.append(engine)
            except Exception:
                for engine in made:
                    engine._drop_global_local(definition.id)
                del store.networks[definition.id]
                store.addresses.release_pool(pool.id)
                raise
            return self.networks[definition.id]

    def _has_plugin(self, name: str) -> bool:
        try:
            self.driver(name)
        except err.DockerError:
            return False
        return True

    def _instantiate_global(self, definition: GlobalNetwork) -> Network:
        return self._copy_shared_network(definition, definition.driver, "global",
                                         self.global_store.addresses)

    def _remove_global_network(self, network: Network) -> None:
        store = self.global_store
        with store.lock:
            for engine in store.engines.values():
                if network.id in engine.networks:
                    refuse_if_in_use(engine.networks[network.id])
            definition = store.networks.get(network.id)
            for engine in store.engines.values():
                engine._drop_global_local(network.id)
            if definition is not None:
                self.driver(definition.driver).free(network.id)
                del store.networks[network.id]
                store.addresses.release_pool(definition.pool_id)

    def _drop_global_local(self, network_id: str) -> None:
        network = self.networks.pop(network_id, None)
        if network is not None:
            self.driver_of(network).delete_network(network_id)
            self._refresh_plugin_isolation()

    def _global_for_attach(self, ref: str) -> Network | None:
        """On a host that has not made a global network yet: make it now, if the plugin
        is running here."""
        store = self.global_store
        with store.lock:
            try:
                found = find(list(store.networks.values()), ref, lambda n: n.id,
                             lambda n: n.name, f"network {ref} not found", "network")
            except err.NotFound:
                return None
            return self._instantiate_global(found)
