"""Networks of one engine: `docker network create/ls/inspect/rm/prune`.

dockerd's order of checks is kept: IPAM syntax, then the name, then the driver,
then the address pool, then the driver's own validation; each step that takes
something registers its undo, so a failure at any step leaves nothing behind.
Networks of a shared scope (swarm, global) take the one create and removal path
of `sharedscope`; this host's copy of one is made by `adopt`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from ipaddress import IPv6Network

from emulator import errdefs as err
from emulator import faults
from emulator.cnm.filters import match_network, validate_network_filters
from emulator.cnm.ipfamilies import (
    Families,
    inspect_configs,
    refuse_no_family,
    refuse_several_subnets,
    refuse_swarm_families,
    refuse_unsupported,
    resolve_families,
    split_configs,
)
from emulator.cnm.lookup import find
from emulator.cnm.model import Network
from emulator.cnm.sharedscope import (
    ScopeMember,
    SharedScope,
    check_request,
    create_shared,
    refuse_if_in_use,
    remove_shared,
)
from emulator.cnm.state import HostState
from emulator.drivers import registry
from emulator.drivers.base import GLOBAL, LOCAL, SWARM, IPAMData, NetworkSpec
from emulator.ids import docker_timestamp, new_id
from emulator.ipam import IpamConfig, Pool, subnet_warnings
from emulator.ipam.parse import parse_prefix
from emulator.swarm.cluster import GWBRIDGE, GWBRIDGE_OPTIONS
from emulator.swarm.shared import SharedNetwork

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
    enable_ipv6: bool | None = None
    """EnableIPv6; None: as the option com.docker.network.enable_ipv6 says, else off."""
    enable_ipv4: bool | None = None
    """EnableIPv4 (API 1.48+); None: as com.docker.network.enable_ipv4 says, else on."""
    configs: tuple[IpamConfig, ...] | None = None
    """Every IPAM config (several subnets, both families); None: the one made of
    subnet, ip_range, gateway and aux_addresses."""

    def ipam_configs(self) -> tuple[IpamConfig, ...]:
        if self.configs is not None:
            return self.configs
        if self.subnet is None and not (self.ip_range or self.gateway or self.aux_addresses):
            return ()
        return (IpamConfig(self.subnet, self.ip_range, self.gateway,
                           dict(self.aux_addresses or {})),)

    def families(self) -> Families:
        return resolve_families(self.enable_ipv4, self.enable_ipv6, self.options or {})


@dataclass(frozen=True)
class DefaultBridge:
    """dockerd's options for the default `bridge` network: `--ipv6` and
    `--fixed-cidr-v6` (without it, Docker 28 takes a /64 of the engine's ULA pool)."""

    ipv6: bool = False
    fixed_cidr_v6: str | None = None

    def __post_init__(self) -> None:
        if self.fixed_cidr_v6:
            check_fixed_cidr_v6(self.fixed_cidr_v6)


LINK_LOCAL_64 = IPv6Network("fe80::/64")


def check_fixed_cidr_v6(text: str) -> None:
    """dockerd's ValidateFixedCIDRV6 (libnetwork/drivers/bridge validateIPv6Subnet): an
    IPv6 prefix, not multicast, and fe80::/64 itself or clear of it."""
    try:
        prefix = parse_prefix(text)
    except ValueError:
        raise err.InvalidParameter(
            f'invalid fixed-cidr-v6: netip.ParsePrefix("{text}"): not an IP prefix') from None
    if prefix.version != 6 or prefix.ip.ipv4_mapped is not None:
        problem = f"'{text}' is not a valid IPv6 subnet"
    elif prefix.ip.is_multicast:
        problem = f"multicast subnet '{text}' is not allowed"
    elif prefix.network != LINK_LOCAL_64 and prefix.network.overlaps(LINK_LOCAL_64):
        problem = f"'{text}' clashes with the Link-Local prefix 'fe80::/64'"
    else:
        return
    raise err.InvalidParameter(f"invalid fixed-cidr-v6: {problem}")


class Networks:
    """The networks of one host, local ones and this host's copies of shared ones."""

    def __init__(self, state: HostState, scope_for: Callable[..., SharedScope],
                 in_swarm: Callable[[], bool],
                 leave: Callable[[Network], None],
                 default_bridge: DefaultBridge | None = None) -> None:
        """`scope_for(name, creating)` gives the shared scope "swarm" or "global" (raising
        Docker's error when this host cannot use it); `leave(network)` takes every container
        off a network that goes away."""
        self._state = state
        self._scope_for = scope_for
        self._in_swarm = in_swarm
        self._leave_all = leave
        self._default_bridge = default_bridge or DefaultBridge()

    @property
    def _all(self) -> dict[str, Network]:
        return self._state.networks

    def create_predefined(self) -> None:
        self._create_local(NetworkRequest("none", driver="null"), predefined=True)
        self._create_local(NetworkRequest("host", driver="host"), predefined=True)
        self._create_local(self._default_bridge_request(), predefined=True)

    def _default_bridge_request(self) -> NetworkRequest:
        """docker0: 172.17.0.0/16, and with `--ipv6` the `--fixed-cidr-v6` subnet or a
        ULA /64 (Docker 28, daemon_unix.go initBridgeDriver; always IPv4)."""
        bridge = self._default_bridge
        configs = [IpamConfig("172.17.0.0/16")]
        if bridge.ipv6 and bridge.fixed_cidr_v6:
            configs.append(IpamConfig(bridge.fixed_cidr_v6))
        return NetworkRequest("bridge", driver="bridge", options=DEFAULT_BRIDGE_OPTIONS,
                              enable_ipv4=True, enable_ipv6=bridge.ipv6,
                              configs=tuple(configs))

    def create(self, request: NetworkRequest, creator: ScopeMember) -> Network:
        network = self._create(request, creator)
        network.warnings = self._warnings(network)
        return network

    def _warnings(self, network: Network) -> tuple[str, ...]:
        """Docker accepts the subnet; say what will go wrong with it. A network on a host
        link (macvlan's parent) shares that link's subnet by design."""
        if network.pool_id is None:
            return ()
        hosts = () if "parent" in network.options else self._state.reserved
        return tuple(subnet_warnings(self._state.space(network).pool(network.pool_id).subnet,
                                     hosts))

    def _create(self, request: NetworkRequest, creator: ScopeMember) -> Network:
        if request.name in PREDEFINED:
            raise err.Forbidden(f"operation is not permitted on predefined {request.name} network ")
        builtin = registry.builtin().get(request.driver)
        if builtin is not None and builtin.capability.scope == SWARM:
            scope = self._scope_for(SWARM, True)
            families = check_request(request)
            refuse_unsupported(request.driver, builtin.capability, families)
            refuse_swarm_families(request.ipam_configs(), families)
            _refuse_several_shared_subnets(request)
            return create_shared(creator, scope, request)
        return self._create_local(request, predefined=False, creator=creator)

    def gateway_bridge(self) -> Network:
        """docker_gwbridge, made now if there is none (libnetwork's defaultGwNetwork:
        in or out of swarm mode, for the first container that needs Docker's gateway
        service)."""
        existing = next((n for n in self._all.values() if n.name == GWBRIDGE), None)
        return existing or self.create_internal(
            NetworkRequest(GWBRIDGE, "bridge", options=GWBRIDGE_OPTIONS))

    def create_internal(self, request: NetworkRequest) -> Network:
        """A network the engine itself makes (docker_gwbridge), not a user's request."""
        return self._create_local(request, predefined=False)

    def _create_local(self, request: NetworkRequest, predefined: bool,
                      creator: ScopeMember | None = None) -> Network:
        families = check_request(request)
        if any(n.name == request.name for n in self._all.values()):
            raise err.Conflict(f"network with name {request.name} already exists")
        state = self._state
        driver = state.drivers.get(request.driver)
        capability = state.drivers.capability(request.driver)
        refuse_unsupported(request.driver, capability, families)
        if capability.scope == GLOBAL and not predefined:
            assert creator is not None, "a predefined network is never global"
            _refuse_shared_families(request, families)
            return create_shared(creator, self._scope_for(GLOBAL), request)
        options = families.options
        spec = NetworkSpec(new_id(), request.name, options, request.internal, request.attachable,
                           enable_ipv6=families.ipv6, enable_ipv4=families.ipv4)
        configs = request.ipam_configs()
        with ExitStack() as undo:
            pools4: list[Pool] = []
            pools6: list[Pool] = []
            if capability.uses_ipam:
                configs4, configs6 = split_configs(configs)
                if families.ipv4:
                    pools4 = self._request_pools(configs4, False, undo)
                if families.ipv6:
                    pools6 = self._request_pools(configs6, True, undo)
                faults.step("network.pool-allocated")
                refuse_no_family(families)
                refuse_several_subnets(request.driver, pools4, pools6)
            pool = pools4[0] if pools4 else None
            pool6 = pools6[0] if pools6 else None
            ipam = IPAMData(pool.subnet if pool else None, pool.gateway if pool else None,
                            pool6.subnet if pool6 else None, pool6.gateway if pool6 else None)
            driver.validate_network(spec, ipam)
            driver.create_network(spec, ipam)
            undo.callback(driver.delete_network, spec.id)
            faults.step("network.driver-created")
            network = Network(
                id=spec.id, name=request.name, driver=driver.name, scope=capability.scope,
                created=docker_timestamp(), options=options, labels=dict(request.labels or {}),
                internal=request.internal, attachable=request.attachable,
                predefined=predefined, pool_id=pool.id if pool else None,
                ipam_config=inspect_configs(configs, [*pools4, *pools6], predefined)
                if capability.uses_ipam else [],
                enable_ipv6=families.ipv6, enable_ipv4=families.ipv4,
                pool_id6=pool6.id if pool6 else None,
            )
            self._all[network.id] = network
            undo.callback(self._all.pop, network.id, None)
            self._state.networks_changed()
            undo.pop_all()
        return network

    def _request_pools(self, configs: list[IpamConfig], v6: bool, undo: ExitStack) -> list[Pool]:
        """One pool per config of the family, or one predefined pool when there is none."""
        state = self._state
        pools = []
        for config in configs or [IpamConfig()]:
            pool = state.addresses.request_pool(
                subnet=config.subnet, ip_range=config.ip_range, gateway=config.gateway,
                aux_addresses=dict(config.aux_addresses or {}), reserved=state.reserved, v6=v6)
            undo.callback(state.addresses.release_pool, pool.id)
            pools.append(pool)
        return pools

    def adopt(self, shared: SharedNetwork, scope: SharedScope) -> Network:
        """This host's copy of a network defined for many hosts (a swarm or global one):
        same ID, its pool in the scope's address space, the driver's state made here.
        An IPv6 swarm network takes its IPv6 pool here, from this host's own pools: Docker
        28's nodes make their copy with the swarm's IPv4 config alone and EnableIPv6, so
        libnetwork takes a predefined IPv6 pool of the host (LocalDefault: the scope is
        "swarm", not "global"), a /64 of this engine's ULA prefix, another on each node."""
        if shared.id in self._all:
            return self._all[shared.id]
        pool = scope.addresses.pool(shared.pool_id)
        spec = NetworkSpec(shared.id, shared.name, shared.options, shared.internal,
                           shared.attachable, enable_ipv6=shared.enable_ipv6)
        with ExitStack() as undo:
            pool6 = None
            if shared.enable_ipv6:
                pool6 = self._state.addresses.request_pool(reserved=self._state.reserved,
                                                           v6=True)
                undo.callback(self._state.addresses.release_pool, pool6.id)
            self._state.drivers.get(shared.driver).create_network(
                spec, IPAMData(pool.subnet, pool.gateway, pool6.subnet if pool6 else None,
                               pool6.gateway if pool6 else None))
            undo.pop_all()
        config: dict[str, object] = {"Subnet": str(pool.subnet), "Gateway": str(pool.gateway),
                                     "_user_subnet": True}
        if pool.ip_range is not None:
            config["IPRange"] = str(pool.ip_range)
        configs = [config]
        if pool6 is not None:
            configs.append({"Subnet": str(pool6.subnet), "Gateway": str(pool6.gateway),
                            "_user_subnet": False, "_version": 6})
        network = Network(
            id=shared.id, name=shared.name, driver=shared.driver, scope=scope.name,
            created=shared.created, options=dict(shared.options), labels=dict(shared.labels),
            internal=shared.internal, attachable=shared.attachable, pool_id=shared.pool_id,
            ipam_config=configs, ingress=shared.ingress, address_space=scope.addresses,
            enable_ipv6=shared.enable_ipv6, pool_id6=pool6.id if pool6 else None,
            address_space6=self._state.addresses if pool6 else None)
        self._add(network)
        return network

    def drop(self, network_id: str) -> None:
        """Remove this host's copy of a network, taking its containers off it first."""
        network = self._all.get(network_id)
        if network is None:
            return
        self._leave_all(network)
        self._state.driver_of(network).delete_network(network.id)
        if network.address_space6 is not None and network.pool_id6 is not None:
            self._state.space6(network).release_pool(network.pool_id6)
        self._remove(network)

    def get(self, ref: str) -> Network:
        return find(self._all.values(), ref, lambda n: n.id, lambda n: n.name,
                    f"network {ref} not found", "network")

    def list(self, filters: Mapping[str, list[str]] | None = None) -> list[Network]:
        filters = filters or {}
        validate_network_filters(filters)
        return [n for n in self._all.values() if match_network(n, filters)]

    def remove(self, ref: str, member: ScopeMember) -> None:
        network = self.get(ref)
        if network.predefined:
            raise err.Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        if network.scope != LOCAL:
            remove_shared(member, self._scope_for(network.scope), network)
            return
        refuse_if_in_use(network)
        self.delete(network)

    def delete(self, network: Network) -> None:
        self._state.driver_of(network).delete_network(network.id)
        if network.address_space is None:
            for pool_id in (network.pool_id, network.pool_id6):
                if pool_id is not None:
                    self._state.addresses.release_pool(pool_id)
        self._remove(network)

    def prune(self, filters: Mapping[str, list[str]] | None = None) -> list[str]:
        filters = dict(filters or {})
        unknown = sorted(set(filters) - {"label", "label!", "until"})
        if unknown:
            raise err.InvalidParameter(f"invalid filter '{unknown[0]}'")
        label_filters = {k: v for k, v in filters.items() if k in ("label", "label!")}
        pruned = []
        for network in list(self._all.values()):
            if network.predefined or network.endpoints or network.scope != LOCAL:
                continue
            if network.name == GWBRIDGE and self._in_swarm():
                continue  # in swarm mode Docker's gwbridge always holds ingress-sbox
            if not match_network(network, label_filters):
                continue
            self.delete(network)
            pruned.append(network.name)
        return pruned

    def _add(self, network: Network) -> None:
        self._all[network.id] = network
        self._state.networks_changed()

    def _remove(self, network: Network) -> None:
        self._all.pop(network.id, None)
        self._state.networks_changed()


def _refuse_shared_families(request: NetworkRequest, families: Families) -> None:
    """Global-scope (plugin) networks take one IPv4 pool of the lab's datastore; the
    emulator has no IPv6 there."""
    if families.ipv6 or not families.ipv4:
        raise err.NotImplementedByEmulator(f"IPv6 on {request.driver} networks shared by "
                                           "several hosts is not supported by the emulator yet")
    _refuse_several_shared_subnets(request)


def _refuse_several_shared_subnets(request: NetworkRequest) -> None:
    if len(request.ipam_configs()) > 1:
        raise err.NotImplementedByEmulator(
            f"several subnets on one {request.driver} network are not supported by the emulator")
