"""This host's membership in a swarm: init, join, leave, and the swarm as a shared scope.

Texts and HTTP statuses are dockerd's (daemon/cluster). A node that joins gets a
`docker_gwbridge` bridge (ICC off, masquerading) and the `ingress` overlay; managers
also see every swarm network, workers only those a container of theirs is attached to.
A swarm network has the same ID on every node and takes its addresses from the
swarm's address space, so two containers of the swarm never share one. The swarm's
own state (nodes, tokens, VNIs, pools) is `emulator.swarm`; this is one engine's side.
"""

from __future__ import annotations

from ipaddress import ip_network

from emulator import errdefs as err
from emulator import faults
from emulator.cnm.lookup import find
from emulator.cnm.model import Network
from emulator.cnm.networks import NetworkRequest, Networks
from emulator.cnm.sharedscope import ScopeMember
from emulator.cnm.state import HostState
from emulator.drivers import registry
from emulator.drivers.base import SWARM, OptionChecker, SwarmBound
from emulator.ipam import IpamConfig
from emulator.swarm.cluster import (
    DEFAULT_ADDR_POOL,
    DEFAULT_DATA_PATH_PORT,
    GWBRIDGE,
    GWBRIDGE_OPTIONS,
    INGRESS,
    NOT_IN_SWARM,
    NodeAddress,
    Swarm,
    SwarmBinding,
    SwarmDirectory,
    SwarmNode,
    check_data_path_port,
    not_attachable,
    parse_node_address,
)
from emulator.swarm.shared import SharedNetwork

WORKER_NOT_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a "
    "manager.")
ALREADY_IN_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave '
                    "this swarm and join another one.")
NOT_PART_OF_SWARM = "This node is not part of a swarm"
LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
    "this message. ")
MAX_SUBNET_SIZE = 29


def _check_pools(pools: list[str], subnet_size: int) -> tuple[str, ...]:
    """dockerd's validateDefaultAddrPool."""
    if subnet_size > MAX_SUBNET_SIZE:
        raise err.DockerError(f"subnet size is out of range: {subnet_size}")
    for pool in pools:
        try:
            network = ip_network(pool)
        except ValueError as exc:
            raise err.DockerError(f"invalid base pool {pool}: {exc}") from None
        if network.prefixlen > subnet_size:
            raise err.DockerError(
                f'invalid CIDR: "{pool}". Subnet size is too small for pool: {subnet_size}')
    return tuple(pools)


def _swarm_drivers() -> list[str]:
    return [name for name, r in registry.builtin().items() if r.capability.scope == SWARM]


class SwarmScope:
    """A swarm seen as a shared scope: managers allocate, every manager makes a copy."""

    name = SWARM

    def __init__(self, swarm: Swarm, state: HostState) -> None:
        self.swarm = swarm
        self.lock = swarm.lock
        self.networks = swarm.networks
        self.addresses = swarm.addresses
        self._state = state

    def members(self) -> list[ScopeMember]:
        return list(self.swarm.engines.values())

    def instantiate_on(self, creator: ScopeMember, definition: SharedNetwork
                       ) -> list[ScopeMember]:
        return [e for host, e in self.swarm.engines.items()
                if self.swarm.nodes[host].role == "manager"]

    def allocate(self, request: NetworkRequest) -> SharedNetwork:
        driver = self._state.drivers.get(request.driver)
        if isinstance(driver, OptionChecker):
            driver.check_options(request.options or {})
        # the create path refused IPv6 subnets and several configs: one IPv4 one at most
        configs = request.ipam_configs()
        config = configs[0] if configs else IpamConfig()
        return self.swarm.allocate_network(
            request.name, request.driver, request.options or {}, request.labels or {},
            request.internal, request.attachable, config.subnet, config.ip_range,
            config.gateway, config.aux_addresses or {},
            enable_ipv6=request.families().ipv6)

    def release(self, network_id: str) -> None:
        self.swarm.release_network(network_id)

    def check_removal(self, member: ScopeMember, network: Network) -> None:
        node = self.swarm.nodes.get(member.host)
        if node is None or node.role != "manager":
            raise err.Unavailable(WORKER_NOT_MANAGER if node else NOT_IN_SWARM)
        for service in self.swarm.services.services.values():
            if network.id in service.network_ids():
                raise err.InvalidParameter(
                    f"rpc error: code = FailedPrecondition desc = network {network.id} is in "
                    f"use by service {service.id}")
        if network.ingress:
            raise err.InvalidParameter(
                "rpc error: code = FailedPrecondition desc = ingress network cannot be removed: "
                "this emulator cannot create another one (network create --ingress is not "
                "supported)")


class SwarmMembership:
    """This engine's side of swarm mode."""

    def __init__(self, state: HostState, networks: Networks, member: ScopeMember,
                 advertise: NodeAddress | None, directory: SwarmDirectory | None) -> None:
        self._state = state
        self._networks = networks
        self._member = member
        self.advertise = advertise
        self.directory = directory
        self.swarm: Swarm | None = None
        self.node: SwarmNode | None = None

    def scope(self, creating: bool = False) -> SwarmScope:
        """The swarm as a shared scope; creating a network there needs a manager."""
        if self.swarm is None or self.node is None or (creating and self.node.role != "manager"):
            raise err.Forbidden(NOT_IN_SWARM)
        return SwarmScope(self.swarm, self._state)

    # -- membership ----------------------------------------------------------

    def init(self, advertise_addr: str | None = None, data_path_port: int = 0,
             default_addr_pool: list[str] | None = None, subnet_size: int = 24) -> str:
        """`docker swarm init`: this node becomes the swarm's first manager; its node ID."""
        if self.swarm is not None:
            raise err.Unavailable(ALREADY_IN_SWARM)
        check_data_path_port(data_path_port)
        pools = _check_pools(default_addr_pool or [DEFAULT_ADDR_POOL], subnet_size)
        addr = self._advertise_address(advertise_addr)
        swarm = Swarm(data_path_port or DEFAULT_DATA_PATH_PORT, pools, subnet_size)
        node = swarm.add_node(self._state.host, "manager", addr)
        self._directory().register(swarm, addr)
        with swarm.lock:
            self._enter(swarm, node)
            ingress = swarm.allocate_network(INGRESS, _swarm_drivers()[0], {}, {}, False, False,
                                             None, None, None, {}, ingress=True)
            self._networks.adopt(ingress, self.scope())
        return node.node_id

    def join(self, remote_addrs: list[str], join_token: str,
             advertise_addr: str | None = None) -> SwarmNode:
        """`docker swarm join --token T MANAGER:2377`."""
        if self.swarm is not None:
            raise err.Unavailable(ALREADY_IN_SWARM)
        if not join_token.startswith("SWMTKN-1-"):
            raise err.InvalidParameter("invalid join token")
        swarm = self._find_swarm(remote_addrs)
        role = swarm.role_of_token(join_token)
        if role is None:
            raise err.DockerError("rpc error: code = InvalidArgument desc = A valid join "
                                  "token is necessary to join this cluster")
        addr = self._advertise_address(advertise_addr)
        with swarm.lock:
            node = swarm.add_node(self._state.host, role, addr)
            if role == "manager":
                self._directory().register(swarm, addr)
            self._enter(swarm, node)
            faults.step("swarm.joined")
            scope = self.scope()
            for network in list(swarm.networks.values()):
                if role == "manager" or network.ingress:
                    self._networks.adopt(network, scope)
        return node

    def check_leave(self, force: bool = False) -> None:
        """dockerd's refusals of `docker swarm leave`."""
        swarm, node = self.swarm, self.node
        if swarm is None or node is None:
            raise err.Unavailable(NOT_PART_OF_SWARM)
        if node.role == "manager" and not force and len(swarm.managers()) == 1:
            raise err.Unavailable(LAST_MANAGER)

    def leave(self, force: bool = False) -> None:
        self.check_leave(force)
        swarm, node = self.swarm, self.node
        assert swarm is not None and node is not None
        with swarm.lock:
            for network in [n for n in self._state.networks.values() if n.scope == SWARM]:
                self._networks.drop(network.id)
            del swarm.nodes[self._state.host]
            swarm.engines.pop(self._state.host, None)
            self._directory().unregister(node.addr)
            self.swarm = self.node = None
            self._bind(None)

    def _find_swarm(self, remote_addrs: list[str]) -> Swarm:
        for remote in remote_addrs:
            try:
                swarm = self._directory().find(parse_node_address(remote))
            except ValueError:
                raise err.InvalidParameter(f"invalid remote address {remote}") from None
            if swarm is not None:
                return swarm
        raise err.DockerError(
            "Timeout was reached before node joined. The attempt to join the swarm will "
            'continue in the background. Use the "docker info" command to see the current '
            "swarm status of your node.")

    def _directory(self) -> SwarmDirectory:
        if self.directory is None:
            self.directory = SwarmDirectory()
        return self.directory

    def _advertise_address(self, text: str | None) -> NodeAddress:
        if text:
            try:
                return parse_node_address(text)
            except ValueError:
                raise err.InvalidParameter("advertise address must be a non-zero IP address "
                                           "or network interface (with optional port number)"
                                           ) from None
        if self.advertise is None:
            raise err.InvalidParameter("could not choose an IP address to advertise since this "
                                       "system has multiple addresses")
        return self.advertise

    def _enter(self, swarm: Swarm, node: SwarmNode) -> None:
        self.swarm, self.node = swarm, node
        swarm.engines[self._state.host] = self._member
        self._bind(SwarmBinding(self._state.host, node.addr, swarm.data_path_port,
                                swarm.control))
        if not any(n.name == GWBRIDGE for n in self._state.networks.values()):
            self._networks.create_internal(
                NetworkRequest(GWBRIDGE, "bridge", options=GWBRIDGE_OPTIONS))

    def _bind(self, binding: SwarmBinding | None) -> None:
        """Tell every swarm-scoped driver which swarm this host is in."""
        for name in _swarm_drivers():
            driver = self._state.drivers.get(name)
            if isinstance(driver, SwarmBound):
                driver.bind(binding)

    def network_for_attach(self, ref: str) -> Network | None:
        """On a worker, a swarm network it does not have yet is made here on first use;
        None when the swarm has no such network."""
        swarm = self.swarm
        if swarm is None:
            return None
        with swarm.lock:
            candidates = [n for n in swarm.networks.values() if not n.ingress]
            try:
                found = find(candidates, ref, lambda n: n.id, lambda n: n.name,
                             f"network {ref} not found", "network")
            except err.NotFound:
                raise err.NotFound(f"network {ref} not found") from None
            if not found.attachable:
                raise not_attachable(found.name) from None
            return self._networks.adopt(found, self.scope())

    # -- what only a manager may be asked -----------------------------------------

    def require_manager(self) -> Swarm:
        """The swarm, if this node is one of its managers; the others get dockerd's 503."""
        if self.swarm is None or self.node is None:
            raise err.Unavailable(NOT_IN_SWARM)
        if self.node.role != "manager":
            raise err.Unavailable(WORKER_NOT_MANAGER)
        return self.swarm

    def join_token(self, role: str) -> str:
        """`docker swarm join-token ROLE -q`."""
        return self.require_manager().tokens[role]
