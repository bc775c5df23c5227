"""One emulated Docker daemon: the CNM state of one host and Docker's rules.

The engine decides (names, addresses, which operations are allowed, in which
order) and asks drivers to act; it never touches the kernel itself. Every
request is validated completely before the first driver call, and a failure
part-way is rolled back, so a rejected request leaves nothing behind.

`Engine` is a facade: it composes its parts, each given the declared `HostState`
they share, and holds the one lock every write takes. Reads (list, inspect, the
container an exec runs in) take no lock and hand out copies (`cnm/copies.py`), so
they never wait behind a slow write, and an exec holds no lock while it runs:
- `Networks`: create, list, inspect, remove, prune; copies of shared networks;
- `Endpoints`: joining and leaving networks, gateways, docker_gwbridge;
- `Containers`: sandboxes and their processes;
- `SwarmMembership`: swarm mode; with `GlobalScope`, one of the two shared scopes
  whose networks exist on many hosts (`sharedscope`).
Other engines reach this one only through `ScopeMember` (adopt_shared,
drop_shared, serves_driver).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from emulator import errdefs as err
from emulator.cnm.containers import Containers
from emulator.cnm.copies import container_copy, network_copy, present
from emulator.cnm.endpoints import AttachRequest, Endpoints
from emulator.cnm.filters import match_network, validate_network_filters
from emulator.cnm.globalscope import GlobalScope, GlobalStore
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.cnm.model import Container, Network
from emulator.cnm.networks import NetworkRequest, Networks
from emulator.cnm.sharedscope import SharedScope
from emulator.cnm.state import HostState
from emulator.cnm.swarmnode import SwarmMembership
from emulator.drivers.base import GLOBAL, Driver, DriverContext
from emulator.drivers.hostfirewall import HostFirewall
from emulator.drivers.registry import DriverRegistry
from emulator.fabric.base import ExecResult, HostFabric
from emulator.ipam import AddressSpace
from emulator.swarm.cluster import Swarm, SwarmDirectory, SwarmNode
from emulator.swarm.shared import SharedNetwork

__all__ = ["AttachRequest", "Engine", "NetworkRequest"]


class Engine:
    def __init__(self, host: str, fabric: HostFabric,
                 reserved: Iterable[IPv4Network] = (), advertise: IPv4Address | None = None,
                 swarm_directory: SwarmDirectory | None = None,
                 plugin_dir: Path | None = None, global_store: GlobalStore | None = None,
                 plugin_timeout: float = 10.0) -> None:
        self.host = host
        self.fabric = fabric
        firewall = HostFirewall(fabric)
        self.drivers = DriverRegistry(DriverContext(fabric, firewall), plugin_dir,
                                      plugin_timeout, advertise)
        self._state = HostState(host, fabric, self.drivers, firewall, list(reserved))
        self._lock = self._state.lock
        self.global_store = global_store or GlobalStore()
        self.global_store.engines[host] = self
        self._global = GlobalScope(self.global_store, self.drivers, self._state.reserved)
        self.on_change: Callable[[list[Container]], None] | None = None
        self._endpoints = Endpoints(self._state)
        self._networks = Networks(self._state, self._scope, lambda: self.swarm is not None,
                                  self._endpoints.leave_all)
        self._swarm = SwarmMembership(self._state, self._networks, self, advertise,
                                      swarm_directory)
        self._containers = Containers(self._state, self._networks, self._endpoints,
                                      self._network_for_attach, self._notify)
        self._networks.create_predefined()
        self.lifecycle = ContainerLifecycle(self)

    # -- the declared state, as dockerd's API and the lab read it ----------------

    @property
    def networks(self) -> dict[str, Network]:
        return self._state.networks

    @property
    def containers(self) -> dict[str, Container]:
        return self._state.containers

    @property
    def addresses(self) -> AddressSpace:
        return self._state.addresses

    @property
    def swarm(self) -> Swarm | None:
        return self._swarm.swarm

    @property
    def swarm_node(self) -> SwarmNode | None:
        return self._swarm.node

    @property
    def swarm_directory(self) -> SwarmDirectory | None:
        """Where this host finds swarms to join (one per lab; made on first use)."""
        return self._swarm.directory

    @property
    def plugin_timeout(self) -> float:
        """Seconds a plugin has to answer one call."""
        return self.drivers.plugin_timeout

    @plugin_timeout.setter
    def plugin_timeout(self, seconds: float) -> None:
        self.drivers.plugin_timeout = seconds

    def driver(self, name: str) -> Driver:
        """A built-in driver, or a plugin found in this host's plugin directory."""
        with self._lock:
            return self.drivers.get(name)

    def driver_of(self, network: Network) -> Driver:
        return self.driver(network.driver)

    def _notify(self, containers: list[Container]) -> None:
        """Tell the owner that these containers' processes started or ended."""
        if self.on_change is not None and containers:
            self.on_change(containers)

    def _scope(self, name: str, creating: bool = False) -> SharedScope:
        if name == GLOBAL:
            return self._global
        return self._swarm.scope(creating)

    def _network_for_attach(self, ref: str) -> Network:
        """A network to attach a container to; a shared network this host has no copy
        of yet is made here on first use."""
        try:
            return self._networks.get(ref)
        except err.NotFound:
            with self.global_store.lock:
                definition = self._global.find(ref)
                if definition is not None:
                    return self._networks.adopt(definition, self._global)
            found = self._swarm.network_for_attach(ref)
            if found is None:
                raise
            return found

    # -- networks ------------------------------------------------------------

    def create_network(self, request: NetworkRequest) -> Network:
        with self._lock:
            return self._networks.create(request, self)

    def get_network(self, ref: str) -> Network:
        """The network itself, found without waiting for a write (lookup.find looks
        through a list of the networks made at one instant)."""
        return self._networks.get(ref)

    def network_copy(self, ref: str) -> Network:
        """A copy of the network, for rendering while writes go on."""
        return network_copy(self.get_network(ref))

    def list_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[Network]:
        """Copies of the networks, found without waiting for a write."""
        filters = filters or {}
        validate_network_filters(filters)
        return [copy for copy in map(network_copy, present(self.networks))
                if match_network(copy, filters)]

    def remove_network(self, ref: str) -> None:
        with self._lock:
            self._networks.remove(ref, self)

    def prune_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[str]:
        with self._lock:
            return self._networks.prune(filters)

    # -- containers ----------------------------------------------------------

    def run_container(self, name: str | None = None,
                      networks: Iterable[AttachRequest] = (AttachRequest("bridge"),),
                      hostname: str | None = None,
                      command: list[str] | None = None) -> Container:
        with self._lock:
            container = self._containers.run(name, networks, hostname, command)
        self.lifecycle.started(container.id).set()
        return container

    def create_container(self, name: str | None, networks: list[AttachRequest],
                         hostname: str | None = None, command: list[str] | None = None,
                         image: str = "", labels: Mapping[str, str] | None = None,
                         env: list[str] | None = None) -> Container:
        with self._lock:
            return self._containers.create(name, networks, hostname, command, image, labels,
                                           env)

    def start_container(self, ref: str) -> Container:
        with self._lock:
            container = self._containers.start(ref)
        self.lifecycle.started(container.id).set()
        return container

    def stop_container(self, ref: str) -> Container:
        with self._lock:
            return self._containers.stop(ref)

    def remove_container(self, ref: str, force: bool = False) -> None:
        self.remove_containers([ref], force)

    def remove_containers(self, refs: Iterable[str], force: bool = False) -> None:
        """`docker rm [-f] A B ...`: all refused unless every one may go; torn down as a batch."""
        with self._lock:
            removed = [self._containers.get(ref).id for ref in refs]
            self._containers.remove(removed, force)
        for cid in removed:
            self.lifecycle.started(cid).set()  # waiters of a never-started one are done too

    def get_container(self, ref: str) -> Container:
        """The container itself, found without waiting for a write (as get_network)."""
        return self._containers.get(ref)

    def container_copy(self, ref: str) -> Container:
        """A copy of the container, for rendering while writes go on."""
        return container_copy(self.get_container(ref))

    def list_containers(self, all: bool = False) -> list[Container]:
        """Copies of the containers, found without waiting for a write."""
        return [copy for copy in map(container_copy, present(self.containers))
                if all or copy.running]

    def reap_exited(self) -> None:
        """Containers whose process ended by itself are exited: endpoints released.
        Nothing to wait for when none has ended."""
        if any(c.running and c.sandbox is not None and self.fabric.sandbox_ended(c.sandbox)
               for c in present(self.containers)):
            with self._lock:
                self._containers.reap_exited()

    def connect(self, net_ref: str, container_ref: str, ip: str | None = None,
                aliases: Iterable[str] = ()) -> None:
        with self._lock:
            self._containers.connect(net_ref, container_ref, ip, aliases)

    def disconnect(self, net_ref: str, container_ref: str, force: bool = False) -> None:
        with self._lock:
            self._containers.disconnect(net_ref, container_ref, force)

    def exec(self, ref: str, argv: list[str], timeout: float = 30.0) -> ExecResult:
        sandbox = self._containers.exec_target(ref)  # no lock: as get_container
        return self._containers.exec(sandbox, argv, timeout)

    # -- swarm ---------------------------------------------------------------

    def swarm_init(self, advertise_addr: str | None = None, data_path_port: int = 0,
                   default_addr_pool: list[str] | None = None, subnet_size: int = 24) -> str:
        """`docker swarm init`: this node becomes the swarm's first manager; its node ID."""
        with self._lock:
            return self._swarm.init(advertise_addr, data_path_port, default_addr_pool,
                                    subnet_size)

    def swarm_join(self, remote_addrs: list[str], join_token: str,
                   advertise_addr: str | None = None) -> SwarmNode:
        """`docker swarm join --token T MANAGER:2377`."""
        with self._lock:
            return self._swarm.join(remote_addrs, join_token, advertise_addr)

    def swarm_leave(self, force: bool = False) -> None:
        with self._lock:
            self._swarm.leave(force)

    def swarm_manager(self) -> Swarm:
        """The swarm, if this node is one of its managers (dockerd's 503 otherwise)."""
        with self._lock:
            return self._swarm.require_manager()

    def swarm_join_token(self, role: str = "worker") -> str:
        """`docker swarm join-token ROLE -q`: on a manager only."""
        with self._lock:
            return self._swarm.join_token(role)

    # -- ScopeMember: what the other engines of a shared scope call ---------------

    def adopt_shared(self, definition: SharedNetwork, scope: SharedScope) -> Network:
        with self._lock:
            return self._networks.adopt(definition, scope)

    def drop_shared(self, network_id: str) -> None:
        with self._lock:
            self._networks.drop(network_id)

    def serves_driver(self, name: str) -> bool:
        with self._lock:
            return self.drivers.available(name)

    # -- the whole host --------------------------------------------------------

    def check(self) -> list[str]:
        """CNI-style CHECK of every endpoint: what drifted from the CNM state."""
        with self._lock:
            problems = []
            for network in self.networks.values():
                for ep in network.endpoints.values():
                    for problem in self.driver_of(network).check(network.id, ep.id):
                        problems.append(f"{network.name}/{ep.name}: {problem}")
            return problems

    def close(self, namespace_ends: bool = False) -> None:
        """Remove every container and network, predefined ones included. The firewall
        goes first, in one command, once no container is left to send through it.
        With `namespace_ends` the host's namespace is about to go and takes its links
        and rules with it, in one batch of the kernel's: they are left to it."""
        with self._lock:
            if namespace_ends:
                self.fabric.abandon()
            self._containers.remove(list(self.containers), force=True)
            self._state.firewall.clear()
            for network in list(self.networks.values()):
                self._networks.delete(network)
