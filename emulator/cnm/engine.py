"""One emulated Docker daemon: the CNM state of one host and Docker's rules.

The engine decides (names, addresses, which operations are allowed, in which
order) and asks drivers to act; it never touches the kernel itself. Every
request is validated completely before the first driver call, and a failure
part-way is rolled back, so a rejected request leaves nothing behind.

`Engine` is a facade: it composes its parts, each given the declared `HostState`
they share, and holds the one lock every write takes. Before letting go of it a
write publishes a `View` (`cnm/view.py`): reads (list, inspect, the container an
exec runs in) answer from it without the lock, so they never wait behind a slow
write nor see half of one, and an exec holds no lock while it runs:
- `Networks`: create, list, inspect, remove, prune; copies of shared networks;
- `Endpoints`: joining and leaving networks, gateways, docker_gwbridge;
- `Containers`: sandboxes and their processes;
- `SwarmMembership`: swarm mode; with `GlobalScope`, one of the two shared scopes
  whose networks exist on many hosts (`sharedscope`).
Other engines reach this one only through `ScopeMember` (adopt_shared,
drop_shared, serves_driver).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from emulator import errdefs as err
from emulator.cnm.containerfiles import ContainerFiles
from emulator.cnm.containerops import renamed
from emulator.cnm.containers import Containers
from emulator.cnm.endpoints import AttachRequest, Endpoints
from emulator.cnm.etcfiles import DnsConfig, HostResolvConf
from emulator.cnm.events import run_seconds
from emulator.cnm.filters import match_network, validate_network_filters
from emulator.cnm.globalscope import GlobalScope, GlobalStore
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.cnm.model import Container, Network
from emulator.cnm.networks import DefaultBridge, NetworkRequest, Networks
from emulator.cnm.resolver import EmbeddedDns
from emulator.cnm.runtimespec import RuntimeSpec
from emulator.cnm.services import Orchestrator
from emulator.cnm.sharedscope import SharedScope
from emulator.cnm.state import HostState
from emulator.cnm.swarmnode import SwarmMembership
from emulator.cnm.tasks import NodeTasks
from emulator.cnm.view import View
from emulator.drivers.base import GLOBAL, Driver, DriverContext
from emulator.drivers.hostfirewall import HostFirewall
from emulator.drivers.portmapping import PortOptions
from emulator.drivers.registry import DriverRegistry
from emulator.fabric.base import ExecResult, HostFabric
from emulator.ipam import AddressSpace, local_address_space
from emulator.swarm.cluster import Swarm, SwarmDirectory, SwarmNode
from emulator.swarm.services import Service, ServiceSpec, Task
from emulator.swarm.shared import SharedNetwork

__all__ = ["AttachRequest", "DefaultBridge", "DnsConfig", "Engine", "NetworkRequest"]


def host_resolv_conf(dns_servers: Iterable[str] | None) -> HostResolvConf:
    """What the emulated host's /etc/resolv.conf says: these servers, or else the
    machine's file without its loopback resolvers (unreachable from a lab namespace)."""
    if dns_servers is not None:
        return HostResolvConf.with_servers(dns_servers)
    return HostResolvConf.load().without_loopback()


class Engine:
    def __init__(self, host: str, fabric: HostFabric,
                 reserved: Iterable[IPv4Network] = (), advertise: IPv4Address | None = None,
                 swarm_directory: SwarmDirectory | None = None,
                 plugin_dir: Path | None = None, global_store: GlobalStore | None = None,
                 plugin_timeout: float = 10.0, dns_servers: Iterable[str] | None = None,
                 state_dir: Path | None = None, engine_id: str | None = None,
                 default_bridge: DefaultBridge | None = None) -> None:
        """`dns_servers`: the host's resolvers (default: the machine's /etc/resolv.conf
        without loopback addresses); `state_dir`: where containers' /etc files are kept
        (none without it); `engine_id`: dockerd's engine ID (`docker info`'s ID; default
        the host's name), from which its default IPv6 pool is derived; `default_bridge`:
        dockerd's `--ipv6`/`--fixed-cidr-v6` for the default bridge."""
        self.host = host
        self.fabric = fabric
        firewall = HostFirewall(fabric)
        self.drivers = DriverRegistry(DriverContext(fabric, firewall), plugin_dir,
                                      plugin_timeout, advertise)
        self.engine_id = host if engine_id is None else engine_id
        self._state = HostState(host, fabric, self.drivers, firewall, list(reserved),
                                addresses=local_address_space(engine_id=self.engine_id))
        self._lock = self._state.lock
        self._depth = 0
        self._view = View()
        self.events = self._state.events
        """`docker events`: the parts publish, the API reads (cnm/events.py)."""
        self._started_ids: set[str] = set()
        """Containers whose start was published and whose end was not yet."""
        host_conf = host_resolv_conf(dns_servers)
        self.dns = self._state.dns = EmbeddedDns(host, fabric, self._dns_views,
                                                 host_conf.nameservers)
        self.global_store = global_store or GlobalStore()
        self.global_store.engines[host] = self
        self._global = GlobalScope(self.global_store, self.drivers, self._state.reserved)
        self.on_change: Callable[[list[Container]], None] | None = None
        self._endpoints = Endpoints(self._state)
        self._networks = Networks(self._state, self._scope, lambda: self.swarm is not None,
                                  self._endpoints.leave_all, default_bridge)
        self._swarm = SwarmMembership(self._state, self._networks, self, advertise,
                                      swarm_directory)
        self.container_files = ContainerFiles(self._state, state_dir, host_conf)
        self._containers = Containers(self._state, self._networks, self._endpoints,
                                      self._network_for_attach, self._notify,
                                      files=self.container_files)
        self._tasks = NodeTasks(self._state, self._containers, self._adopt_swarm_network,
                                lambda: self.swarm)
        self._endpoints.before_swarm_join = self._tasks.before_join
        self._endpoints.gateway_bridge = self._networks.gateway_bridge
        with self._write():
            self._networks.create_predefined()
        self.lifecycle = ContainerLifecycle(self)

    # -- the declared state, as dockerd's API and the lab read it ----------------

    @property
    def networks(self) -> dict[str, Network]:
        return self._state.networks

    @property
    def containers(self) -> dict[str, Container]:
        """The containers Docker lists (not the engine's own load-balancing sandboxes)."""
        return {cid: c for cid, c in self._state.containers.items() if not c.hidden}

    @property
    def addresses(self) -> AddressSpace:
        return self._state.addresses

    @property
    def firewall(self) -> HostFirewall:
        """The host firewall, to which drivers and the engine hand their parts."""
        return self._state.firewall

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
        with self._write():
            return self.drivers.get(name)

    def driver_of(self, network: Network) -> Driver:
        return self.driver(network.driver)

    @contextmanager
    def _write(self) -> Iterator[None]:
        """Hold the lock; the outermost write programs the load balancers of sandboxes
        it made or moved, and publishes the view as it ends, failed or not. Task
        containers that ended are reported to the swarm once the lock is let go."""
        ended: list[tuple[str, int]] = []
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    failing = sys.exc_info()[1] is not None
                    try:
                        self._tasks.refresh()
                    except Exception:
                        if not failing:
                            raise
                    finally:
                        ended = self._tasks.collect_ended()
                        networks = self._state.networks
                        self._view = replace(
                            self._view.after(networks, networks.take_changes(),
                                             self._state.containers),
                            services=self._tasks.dns_records())
                        self.dns.view_changed()
        if ended:
            self._report_ended(ended)

    def _report_ended(self, ended: list[tuple[str, int]]) -> None:
        """Tell the swarm's orchestrator, from a thread of its own (it calls engines)."""
        swarm = self.swarm
        orchestrator = swarm.orchestrator if swarm is not None else None
        if orchestrator is None:
            return

        def report() -> None:
            for task_id, code in ended:
                orchestrator.task_ended(task_id, code)

        threading.Thread(target=report, name=f"task-ended-{self.host}", daemon=True).start()

    def view(self) -> View:
        """The networks and containers as of the last write: copies no one changes."""
        return self._view

    def _dns_views(self) -> tuple[View, list[View]]:
        """What the embedded DNS answers from: this host's view, and the views of the
        other nodes of its swarm (their containers on swarm-scoped networks)."""
        swarm = self.swarm
        if swarm is None:
            return self._view, []
        return self._view, [member.view() for host, member in list(swarm.engines.items())
                            if host != self.host]

    def _notify(self, containers: list[Container]) -> None:
        """Tell the owner that these containers' processes started or ended."""
        self._publish_runs(containers)
        if self.on_change is not None and containers:
            self.on_change(containers)

    def _publish_runs(self, containers: list[Container]) -> None:
        """dockerd's start, die (after the networks let go, as its Cleanup does) and
        destroy events of these containers, whose process started or ended."""
        for container in containers:
            if container.hidden:
                continue
            if container.running:
                if container.id not in self._started_ids:
                    self._started_ids.add(container.id)
                    self.events.container(container, "start")
                continue
            if container.id in self._started_ids:
                self._started_ids.discard(container.id)
                self.events.container(container, "die", exitCode=str(container.exit_code),
                                      execDuration=str(run_seconds(container)))
            if container.id not in self._state.containers:
                self.events.container(container, "destroy")

    def _scope(self, name: str, creating: bool = False) -> SharedScope:
        if name == GLOBAL:
            return self._global
        return self._swarm.scope(creating)

    def _adopt_swarm_network(self, network_id: str) -> Network:
        """This host's copy of a swarm network a task joins, made if need be."""
        if network_id in self._state.networks:
            return self._state.networks[network_id]
        swarm = self.swarm
        if swarm is None or network_id not in swarm.networks:
            raise err.NotFound(f"network {network_id} not found")
        return self._networks.adopt(swarm.networks[network_id], self._swarm.scope())

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
        with self._write():
            network = self._networks.create(request, self)
            self.events.network(network, "create")
            return network

    def get_network(self, ref: str) -> Network:
        """The network itself, found in the view without waiting for a write."""
        found = self._view.network(ref)
        return self._state.networks.get(found.id, found)

    def network_copy(self, ref: str) -> Network:
        """The network as of the last write, to render while writes go on."""
        return self._view.network(ref)

    def list_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[Network]:
        """The networks as of the last write."""
        filters = filters or {}
        validate_network_filters(filters)
        return [n for n in self._view.networks.values() if match_network(n, filters)]

    def remove_network(self, ref: str) -> None:
        with self._write():
            network = self._networks.get(ref)
            self._networks.remove(ref, self)
            if network.id not in self._state.networks:
                self.events.network(network, "destroy")

    def prune_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[str]:
        with self._write():
            before = dict(self._state.networks)
            pruned = self._networks.prune(filters)
            for net_id, network in before.items():
                if net_id not in self._state.networks:
                    self.events.network(network, "destroy")
            return pruned

    # -- containers ----------------------------------------------------------

    def run_container(self, name: str | None = None,
                      networks: Iterable[AttachRequest] = (AttachRequest("bridge"),),
                      hostname: str | None = None,
                      command: list[str] | None = None,
                      dns: DnsConfig | None = None) -> Container:
        with self._write():
            container = self._containers.run(name, networks, hostname, command, dns=dns)
        self.lifecycle.started(container.id).set()
        return container

    def create_container(self, name: str | None, networks: list[AttachRequest],
                         hostname: str | None = None, command: list[str] | None = None,
                         image: str = "", labels: Mapping[str, str] | None = None,
                         env: list[str] | None = None,
                         ports: PortOptions | None = None,
                         dns: DnsConfig | None = None, links: Iterable[str] = (),
                         sysctls: Mapping[str, str] | None = None,
                         runtime: RuntimeSpec | None = None) -> Container:
        with self._write():
            container = self._containers.create(name, networks, hostname, command, image,
                                                labels, env, ports, dns=dns, links=links,
                                                sysctls=sysctls, runtime=runtime)
            self.events.container(container, "create")
            return container

    def start_container(self, ref: str) -> Container:
        with self._write():
            container = self._containers.start(ref)
        self.lifecycle.started(container.id).set()
        return container

    def stop_container(self, ref: str, exit_code: int = 143) -> Container:
        """End the container's process; `exit_code` is what it ended with (SIGTERM's
        143 unless a kill's)."""
        self.lifecycle.ops.thaw([self.get_container(ref).id])
        with self._write():
            return self._containers.stop(ref, exit_code)

    def remove_container(self, ref: str, force: bool = False) -> None:
        self.remove_containers([ref], force)

    def remove_containers(self, refs: Iterable[str], force: bool = False) -> None:
        """`docker rm [-f] A B ...`: all refused unless every one may go; torn down as a batch."""
        refs = list(refs)
        if force:
            self.lifecycle.ops.thaw([c.id for c in self._view.containers.values()
                                     if c.id in refs or c.name in refs])
        with self._write():
            removed = [self._containers.get(ref).id for ref in refs]
            self._containers.remove(removed, force)
        for cid in removed:
            self.lifecycle.forget(cid)

    def get_container(self, ref: str) -> Container:
        """The container itself, found in the view without waiting for a write."""
        found = self._view.container(ref)
        return self._state.containers.get(found.id, found)

    def container_copy(self, ref: str) -> Container:
        """The container as of the last write, to render while writes go on."""
        return self._view.container(ref)

    def list_containers(self, all: bool = False) -> list[Container]:
        """The containers as of the last write."""
        return [c for c in self._view.containers.values()
                if (all or c.running) and not c.hidden]

    def reap_exited(self) -> None:
        """Containers whose process ended by itself are exited: endpoints released.
        Nothing to wait for when none has ended."""
        if any(c.running and c.sandbox is not None and self.fabric.sandbox_ended(c.sandbox)
               for c in self._view.containers.values()):
            with self._write():
                self._containers.reap_exited()

    def rename_container(self, ref: str, new_name: str) -> str:
        """Give the container a new name (dockerd's rename); its old name."""
        with self._write():
            return renamed(self._containers.get(ref), self._state, new_name)

    def set_paused(self, cid: str, paused: bool) -> None:
        """Record that the container's processes are frozen (or thawed)."""
        with self._write():
            container = self._state.containers.get(cid)
            if container is not None:
                container.paused = paused and container.running

    def record_exit_code(self, cid: str, code: int) -> None:
        """Set the exit code dockerd reports for a container (a kill's, a failed start's)."""
        with self._write():
            container = self._state.containers.get(cid)
            if container is not None:
                container.exit_code = code

    def connect(self, net_ref: str, container_ref: str, ip: str | None = None,
                aliases: Iterable[str] = (), mac: str | None = None,
                links: Iterable[str] = (), ip6: str | None = None) -> None:
        with self._write():
            self._containers.connect(net_ref, container_ref, ip, aliases, mac, links, ip6)

    def disconnect(self, net_ref: str, container_ref: str, force: bool = False) -> None:
        with self._write():
            self._containers.disconnect(net_ref, container_ref, force)

    def exec(self, ref: str, argv: list[str], timeout: float = 30.0,
             privileged: bool = False) -> ExecResult:
        """argv in the container as its user, with its capabilities (all, as `docker exec
        --privileged`, with `privileged`)."""
        container = self._view.container(ref)
        if not container.running or container.sandbox is None:
            raise err.Conflict(f"container {container.id} is not running")
        return self._containers.exec(container, argv, timeout, privileged)

    def process_environment(self, container: Container, extra: Iterable[str] = ()
                            ) -> dict[str, str]:
        """The environment a process of the container starts with (`docker exec`'s
        --env as `extra`): links' variables, the container's --env, the image's PATH."""
        return self._containers.environment(container, extra)

    @property
    def sandboxing(self):
        """Switch for the containers' sandboxes: `with engine.sandboxing(False): ...`."""
        return self._containers.sandboxed

    # -- swarm ---------------------------------------------------------------

    def swarm_init(self, advertise_addr: str | None = None, data_path_port: int = 0,
                   default_addr_pool: list[str] | None = None, subnet_size: int = 24) -> str:
        """`docker swarm init`: this node becomes the swarm's first manager; its node ID."""
        with self._write():
            node_id = self._swarm.init(advertise_addr, data_path_port, default_addr_pool,
                                       subnet_size)
            self._make_ingress_sandbox()
            return node_id

    def swarm_join(self, remote_addrs: list[str], join_token: str,
                   advertise_addr: str | None = None) -> SwarmNode:
        """`docker swarm join --token T MANAGER:2377`."""
        with self._write():
            node = self._swarm.join(remote_addrs, join_token, advertise_addr)
            self._make_ingress_sandbox()
            return node

    def swarm_leave(self, force: bool = False) -> None:
        swarm = self.swarm
        with self._write():
            self._swarm.check_leave(force)
            self._tasks.remove_all()
            self._swarm.leave(force)
        orchestrator = swarm.orchestrator if swarm is not None else None
        if orchestrator is not None:
            if swarm.nodes:
                orchestrator.node_left(self.host)
            else:
                orchestrator.close()

    def _make_ingress_sandbox(self) -> None:
        ingress = next((n for n in self._state.networks.values() if n.ingress), None)
        if ingress is not None:
            self._tasks.make_ingress_sandbox(ingress)

    # -- services (a manager's) and tasks (every node's) ----------------------------------

    def _orchestrator(self) -> Orchestrator:
        return Orchestrator.of(self.swarm_manager())

    def create_service(self, spec: ServiceSpec) -> tuple[Service, list[str]]:
        """`docker service create`: the service and dockerd's warnings."""
        return self._orchestrator().create(spec)

    def update_service(self, ref: str, version: int, spec: ServiceSpec) -> list[str]:
        """`docker service update` / `scale`: `version` must be the service's current one."""
        return self._orchestrator().update(ref, version, spec)

    def scale_service(self, ref: str, replicas: int) -> None:
        """`docker service scale NAME=N`."""
        orchestrator = self._orchestrator()
        with orchestrator.lock:
            service = orchestrator.store.find(ref)
            orchestrator.update(service.id, service.version,
                                replace(service.spec, replicas=replicas))

    def remove_service(self, ref: str) -> None:
        self._orchestrator().remove(ref)

    def list_services(self) -> list[Service]:
        swarm = self.swarm_manager()
        with swarm.lock:
            return list(swarm.services.services.values())

    def get_service(self, ref: str) -> Service:
        swarm = self.swarm_manager()
        with swarm.lock:
            return swarm.services.find(ref)

    def list_tasks(self) -> list[Task]:
        swarm = self.swarm_manager()
        with swarm.lock:
            return list(swarm.services.tasks.values())

    def get_task(self, ref: str) -> Task:
        swarm = self.swarm_manager()
        with swarm.lock:
            return swarm.services.find_task(ref)

    def service_status(self, service: Service) -> tuple[int, int]:
        """(running tasks, desired tasks)."""
        return self._orchestrator().status(service)

    def run_task(self, service: Service, task: Task) -> None:
        """Start a task placed on this node (the orchestrator's call)."""
        swarm = self.swarm
        if swarm is None or self.host not in swarm.nodes:
            raise err.Unavailable("node is not part of the swarm")
        ingress = next((n.id for n in swarm.networks.values() if n.ingress), None)
        with self._write():
            container = self._tasks.run(service, task, swarm.nodes[self.host], ingress)
        self.lifecycle.started(container.id).set()

    def end_tasks(self, tasks: list[Task]) -> None:
        """Remove these tasks' containers in one batch (the orchestrator's call)."""
        with self._write():
            self._tasks.end(tasks)
        for task in tasks:
            self.lifecycle.forget(task.container_id)

    def refresh_load_balancing(self) -> None:
        """Reprogram every sandbox's service load balancing from the swarm's store."""
        with self._write():
            pass  # the end of every write reprograms them

    def swarm_manager(self) -> Swarm:
        """The swarm, if this node is one of its managers (dockerd's 503 otherwise)."""
        with self._write():
            return self._swarm.require_manager()

    def swarm_join_token(self, role: str = "worker") -> str:
        """`docker swarm join-token ROLE -q`: on a manager only."""
        with self._write():
            return self._swarm.join_token(role)

    # -- ScopeMember: what the other engines of a shared scope call ---------------

    def adopt_shared(self, definition: SharedNetwork, scope: SharedScope) -> Network:
        with self._write():
            return self._networks.adopt(definition, scope)

    def drop_shared(self, network_id: str) -> None:
        with self._write():
            self._networks.drop(network_id)

    def serves_driver(self, name: str) -> bool:
        with self._write():
            return self.drivers.available(name)

    # -- the whole host --------------------------------------------------------

    def check(self) -> list[str]:
        """CNI-style CHECK of every endpoint: what drifted from the CNM state. Containers
        whose process has ended are reaped first (their endpoints go with them)."""
        with self._write():
            self._containers.reap_exited()
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
        swarm = self.swarm
        if swarm is not None and swarm.orchestrator is not None:
            swarm.orchestrator.close()
        self.lifecycle.ops.thaw(list(self._view.containers))
        with self._write():
            if namespace_ends:
                self.fabric.abandon()
            self._containers.remove(list(self._state.containers), force=True)
            self._state.firewall.clear()
            for network in list(self.networks.values()):
                self._networks.delete(network)
        self.dns.close()
        self.lifecycle.close()
