"""Network operations of the engine: `docker network create/ls/inspect/rm/prune`.

dockerd's order of checks is kept: IPAM syntax, then the name, then the driver,
then the address pool, then the driver's own validation; a failure at any step
leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from emulator import errdefs as err
from emulator.cnm.filters import match_network, validate_network_filters
from emulator.cnm.lookup import find
from emulator.cnm.model import Network
from emulator.drivers.base import IPAMData, NetworkSpec
from emulator.ids import docker_timestamp, new_id
from emulator.ipam import check_ipam_config

PREDEFINED = ("bridge", "host", "none", "default")
DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.bridge.name": "docker0",
    "com.docker.network.driver.mtu": "1500",
}


@dataclass(frozen=True)
class NetworkRequest:
    """What `docker network create` asks for."""

    name: str
    driver: str = "bridge"
    options: Mapping[str, str] | None = None
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: Mapping[str, str] | None = None
    internal: bool = False
    attachable: bool = False
    labels: Mapping[str, str] | None = None



class NetworkOps:
    """Mixed into Engine: everything about networks."""

    def _create_predefined(self) -> None:
        self._create(NetworkRequest("none", driver="null"), predefined=True)
        self._create(NetworkRequest("host", driver="host"), predefined=True)
        self._create(
            NetworkRequest("bridge", driver="bridge", options=DEFAULT_BRIDGE_OPTIONS,
                           subnet="172.17.0.0/16"),
            predefined=True,
        )

    def create_network(self, request: NetworkRequest) -> Network:
        with self._lock:
            if request.name in PREDEFINED:
                raise err.Forbidden(
                    f"operation is not permitted on predefined {request.name} network "
                )
            if request.driver == "overlay":
                return self._create_swarm_network(request)
            return self._create(request, predefined=False)

    def _create(self, request: NetworkRequest, predefined: bool) -> Network:
        """dockerd's order: IPAM syntax, name, driver, address pool, then the driver."""
        if request.subnet is not None or request.ip_range or request.gateway:
            check_ipam_config(request.subnet, request.ip_range, request.gateway,
                              dict(request.aux_addresses or {}))
        if not request.name:
            raise err.InvalidParameter("invalid name: name is empty")
        if any(n.name == request.name for n in self.networks.values()):
            raise err.Conflict(f"network with name {request.name} already exists")
        driver = self.driver(request.driver)
        if getattr(driver, "scope", "local") == "global" and not predefined:
            return self._create_global_network(request, driver)
        options = {k: str(v) for k, v in (request.options or {}).items()}
        net_id = new_id()
        spec = NetworkSpec(net_id, request.name, options, request.internal, request.attachable)
        pool = None
        ipam = IPAMData()
        if driver.uses_ipam:
            pool = self.addresses.request_pool(
                subnet=request.subnet, ip_range=request.ip_range, gateway=request.gateway,
                aux_addresses=dict(request.aux_addresses or {}), reserved=self.reserved,
            )
            ipam = IPAMData(pool.subnet, pool.gateway)
        try:
            driver.validate_network(spec, ipam)
            driver.create_network(spec, ipam)
        except Exception:
            if pool is not None:
                self.addresses.release_pool(pool.id)
            raise
        network = Network(
            id=net_id, name=request.name, driver=driver.name, scope=driver.scope,
            created=docker_timestamp(), options=options, labels=dict(request.labels or {}),
            internal=request.internal, attachable=request.attachable, predefined=predefined,
            pool_id=pool.id if pool else None,
            ipam_config=[_ipam_config(pool, request)] if pool else [],
        )
        self.networks[net_id] = network
        self._refresh_plugin_isolation()
        return network

    def _copy_shared_network(self, shared, driver_name: str, scope: str, space,
                             ingress: bool = False) -> Network:
        """This host's copy of a network defined for many hosts (a swarm or global one):
        same ID, its pool in the shared address space, the driver's state made here."""
        if shared.id in self.networks:
            return self.networks[shared.id]
        pool = space.pool(shared.pool_id)
        spec = NetworkSpec(shared.id, shared.name, shared.options, shared.internal,
                           shared.attachable)
        self.driver(driver_name).create_network(spec, IPAMData(pool.subnet, pool.gateway))
        config: dict[str, object] = {"Subnet": str(pool.subnet), "Gateway": str(pool.gateway),
                                     "_user_subnet": True}
        if pool.ip_range is not None:
            config["IPRange"] = str(pool.ip_range)
        network = Network(
            id=shared.id, name=shared.name, driver=driver_name, scope=scope,
            created=shared.created, options=dict(shared.options), labels=dict(shared.labels),
            internal=shared.internal, attachable=shared.attachable, pool_id=shared.pool_id,
            ipam_config=[config], ingress=ingress, address_space=space)
        self.networks[network.id] = network
        self._refresh_plugin_isolation()
        return network

    def get_network(self, ref: str) -> Network:
        with self._lock:
            return find(self.networks.values(), ref, lambda n: n.id, lambda n: n.name,
                        f"network {ref} not found", "network")

    def list_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[Network]:
        with self._lock:
            filters = filters or {}
            validate_network_filters(filters)
            return [n for n in self.networks.values() if match_network(n, filters)]

    def remove_network(self, ref: str) -> None:
        with self._lock:
            network = self.get_network(ref)
            if network.predefined:
                raise err.Forbidden(
                    f"{network.name} is a pre-defined network and cannot be removed"
                )
            if network.scope == "swarm":
                self._remove_swarm_network(network)
                return
            if network.scope == "global":
                self._remove_global_network(network)
                return
            refuse_if_in_use(network)
            self._delete(network)

    def _delete(self, network: Network) -> None:
        self.driver_of(network).delete_network(network.id)
        if network.pool_id is not None and network.address_space is None:
            self.addresses.release_pool(network.pool_id)
        del self.networks[network.id]
        self._refresh_plugin_isolation()

    def prune_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[str]:
        with self._lock:
            filters = dict(filters or {})
            unknown = sorted(set(filters) - {"label", "label!", "until"})
            if unknown:
                raise err.InvalidParameter(f"invalid filter '{unknown[0]}'")
            label_filters = {k: v for k, v in filters.items() if k in ("label", "label!")}
            pruned = []
            for network in list(self.networks.values()):
                if network.predefined or network.endpoints or network.scope != "local":
                    continue
                if network.name == "docker_gwbridge" and self.swarm is not None:
                    continue  # in swarm mode Docker's gwbridge always holds ingress-sbox
                if not match_network(network, label_filters):
                    continue
                self._delete(network)
                pruned.append(network.name)
            return pruned

    # -- containers ----------------------------------------------------------



def refuse_if_in_use(network: Network) -> None:
    """Docker's refusal to remove a network that still has endpoints (here, or on the
    given host's copy of a swarm or global network)."""
    if network.endpoints:
        names = ", ".join(f'name:"{ep.name}" id:"{ep.id[:12]}"'
                          for ep in network.endpoints.values())
        raise err.Forbidden(f"error while removing network: network {network.name} has "
                            f"active endpoints ({names})")


def _ipam_config(pool, request: NetworkRequest) -> dict[str, object]:
    config: dict[str, object] = {"Subnet": str(pool.subnet), "Gateway": str(pool.gateway)}
    if request.ip_range:
        config["IPRange"] = str(pool.ip_range)
    if request.aux_addresses:
        config["AuxiliaryAddresses"] = dict(request.aux_addresses)
    config["_user_subnet"] = request.subnet is not None
    return config


