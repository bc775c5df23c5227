"""Swarm services and their tasks: what the managers' store keeps of them.

A service is a spec (image, command, replicas, networks, published ports, endpoint
mode) plus what the managers allocated for it: a virtual IP on each of its networks
(and on `ingress` when it publishes in ingress mode) and a published port for every
port that did not name one (30000-32767, as swarmkit's port allocator). A task is
one replica: a slot number, the node it was placed on, its container and its
addresses. Nodes are chosen as swarmkit's spread scheduler chooses them: fewest
tasks of this service first, then fewest tasks in all.

Plain data and pure rules only: the engines (`emulator.cnm.services`) run the
tasks and program the load balancers from it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Interface

from emulator import errdefs as err
from emulator.ids import base36_id, docker_timestamp

VIP, DNSRR = "vip", "dnsrr"
INGRESS_MODE, HOST_MODE = "ingress", "host"
DYNAMIC_PORT_START, DYNAMIC_PORT_END = 30000, 32767
"""swarmkit's dynamicPortStart/End: published ports given to ports that name none."""
TASK_HISTORY_LIMIT = 5
"""Docker's default TaskHistoryRetentionLimit: ended tasks kept per slot."""

RUNNING = "running"
SHUTDOWN = "shutdown"
FAILED = "failed"
ENDED = (SHUTDOWN, FAILED, "complete", "rejected", "orphaned", "remove")


@dataclass(frozen=True)
class PortConfig:
    """One published port of a service (swarm's PortConfig)."""

    target: int
    published: int = 0
    protocol: str = "tcp"
    mode: str = INGRESS_MODE


@dataclass(frozen=True)
class NetworkAttachment:
    """A network the service's tasks join (by ID once resolved), with its aliases."""

    target: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    replicas: int = 1
    networks: tuple[NetworkAttachment, ...] = ()
    ports: tuple[PortConfig, ...] = ()
    endpoint_mode: str = VIP
    labels: tuple[tuple[str, str], ...] = ()
    env: tuple[str, ...] = ()
    hostname: str = ""

    @property
    def argv(self) -> list[str]:
        return [*self.command, *self.args]

    def ingress_ports(self) -> tuple[PortConfig, ...]:
        return tuple(p for p in self.ports if p.mode == INGRESS_MODE)


@dataclass
class Service:
    id: str
    spec: ServiceSpec
    version: int
    created: str = field(default_factory=docker_timestamp)
    updated: str = field(default_factory=docker_timestamp)
    previous_spec: ServiceSpec | None = None
    vips: dict[str, IPv4Interface] = field(default_factory=dict)
    """Network ID -> the service's virtual IP there (vip mode, ingress too)."""
    ports: tuple[PortConfig, ...] = ()
    """The spec's ports with their published ports chosen."""

    @property
    def name(self) -> str:
        return self.spec.name

    def network_ids(self) -> list[str]:
        return [n.target for n in self.spec.networks]

    def ingress_ports(self) -> tuple[PortConfig, ...]:
        """The published ports of the routing mesh, with their published ports chosen."""
        return tuple(p for p in self.ports if p.mode == INGRESS_MODE)


@dataclass
class Task:
    id: str
    service_id: str
    slot: int
    host: str
    node_id: str
    version: int
    desired_state: str = RUNNING
    state: str = "new"
    message: str = "created"
    error: str = ""
    container_id: str = ""
    exit_code: int | None = None
    addresses: dict[str, IPv4Interface] = field(default_factory=dict)
    """Network ID -> the task's address on it (allocated by the managers)."""
    created: str = field(default_factory=docker_timestamp)
    updated: str = field(default_factory=docker_timestamp)
    timestamp: str = field(default_factory=docker_timestamp)
    """When the task reached its current state."""

    def name(self, service: Service) -> str:
        """The task's container name, as Docker's executor gives it."""
        return f"{service.name}.{self.slot}.{self.id}"

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def serving(self) -> bool:
        """Its address is a load-balancing backend: running and meant to be."""
        return self.state == RUNNING and self.desired_state == RUNNING

    def set_state(self, state: str, message: str, error: str = "") -> None:
        self.state, self.message, self.error = state, message, error
        self.timestamp = self.updated = docker_timestamp()


class ServiceStore:
    """Every service and task of one swarm; the caller holds the swarm's lock."""

    def __init__(self) -> None:
        self.services: dict[str, Service] = {}
        self.tasks: dict[str, Task] = {}
        self._versions = itertools.count(10)

    def next_version(self) -> int:
        """The store's version index, as swarmkit's raft index grows with every write."""
        return next(self._versions)

    def find(self, ref: str) -> Service:
        """dockerd's getService: full ID, then name, then unique ID prefix."""
        if ref in self.services:
            return self.services[ref]
        named = [s for s in self.services.values() if s.name == ref]
        if named:
            return named[0]
        prefixed = [s for s in self.services.values() if s.id.startswith(ref)] if ref else []
        if len(prefixed) > 1:
            raise err.InvalidParameter(
                f"service {ref} is ambiguous ({len(prefixed)} matches found)")
        if not prefixed:
            raise err.NotFound(f"service {ref} not found")
        return prefixed[0]

    def find_task(self, ref: str) -> Task:
        if ref in self.tasks:
            return self.tasks[ref]
        prefixed = [t for t in self.tasks.values() if t.id.startswith(ref)] if ref else []
        if len(prefixed) != 1:
            if len(prefixed) > 1:
                raise err.InvalidParameter(
                    f"task {ref} is ambiguous ({len(prefixed)} matches found)")
            raise err.NotFound(f"task {ref} not found")
        return prefixed[0]

    def check_name(self, name: str, ignore: str | None = None) -> None:
        if any(s.name == name and s.id != ignore for s in self.services.values()):
            raise err.Conflict("rpc error: code = AlreadyExists desc = name conflicts with "
                               "an existing object: service " + name + " already exists")

    def tasks_of(self, service_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.service_id == service_id]

    def live_tasks(self, service_id: str) -> list[Task]:
        """Tasks meant to run (desired running), whatever state they reached."""
        return [t for t in self.tasks_of(service_id) if t.desired_state == RUNNING]

    def backends(self, service_id: str, network_id: str) -> list[IPv4Address]:
        """The addresses load-balanced to for this service on this network, by slot."""
        tasks = sorted((t for t in self.tasks_of(service_id) if t.serving),
                       key=lambda t: (t.slot, t.created))
        return [t.addresses[network_id].ip for t in tasks if network_id in t.addresses]

    def dns_records(self, network_ids: Iterable[str]
                    ) -> dict[str, dict[str, tuple[IPv4Address, ...]]]:
        """What the embedded DNS answers for services on these networks (libnetwork's
        service records): the service's name and aliases to its VIP (vip mode) or to its
        tasks' addresses (dnsrr), and `tasks.NAME` to the tasks' addresses."""
        wanted = set(network_ids)
        records: dict[str, dict[str, tuple[IPv4Address, ...]]] = {}
        for service in self.services.values():
            for attachment in service.spec.networks:
                net_id = attachment.target
                if net_id not in wanted:
                    continue
                names = [service.name, *attachment.aliases]
                backends = tuple(self.backends(service.id, net_id))
                vip = service.vips.get(net_id)
                table = records.setdefault(net_id, {})
                for name in names:
                    answer = (vip.ip,) if vip is not None and service.spec.endpoint_mode == VIP \
                        else backends
                    if answer:
                        table[name.lower()] = answer
                    if backends:
                        table[f"tasks.{name}".lower()] = backends
        return records

    def services_on(self, network_id: str) -> list[Service]:
        return [s for s in self.services.values()
                if network_id in s.vips or network_id in s.network_ids()]

    def used_ingress_ports(self, ignore: str | None = None
                           ) -> dict[tuple[str, int], tuple[str, str]]:
        """(protocol, published port) -> (name, ID) of the service publishing it in
        ingress mode."""
        return {(p.protocol, p.published): (s.name, s.id)
                for s in self.services.values() if s.id != ignore
                for p in s.ports if p.mode == INGRESS_MODE}

    def trim_history(self, service_id: str, slot: int) -> list[Task]:
        """Ended tasks of a slot beyond the retention limit (oldest first): to remove."""
        ended = sorted((t for t in self.tasks_of(service_id) if t.slot == slot and t.ended
                        and t.desired_state != RUNNING), key=lambda t: t.created)
        return ended[:max(0, len(ended) - TASK_HISTORY_LIMIT)]


def allocate_ports(ports: Iterable[PortConfig], used: dict[tuple[str, int], tuple[str, str]]
                   ) -> tuple[PortConfig, ...]:
    """Choose a published port for each ingress port that named none; refuse one another
    service publishes (swarmkit's portAllocator and validateEndpointSpec)."""
    ports = list(ports)
    named = [(p.protocol, p.published) for p in ports if p.published]
    if len(named) != len(set(named)):
        raise err.InvalidParameter("rpc error: code = InvalidArgument desc = EndpointSpec: "
                                   "duplicate published ports provided")
    taken = set(used)
    chosen = []
    for port in ports:
        owner = used.get((port.protocol, port.published)) if port.published else None
        if owner is not None:
            raise err.InvalidParameter(
                f"rpc error: code = InvalidArgument desc = port '{port.published}' is already "
                f"in use by service '{owner[0]}' ({owner[1]}) as an ingress port")
        if port.mode == INGRESS_MODE and not port.published:
            free = next((p for p in range(DYNAMIC_PORT_START, DYNAMIC_PORT_END + 1)
                         if (port.protocol, p) not in taken), None)
            if free is None:
                raise err.Unavailable("rpc error: code = ResourceExhausted desc = no "
                                      "available dynamic port for ingress")
            port = replace(port, published=free)
        taken.add((port.protocol, port.published))
        chosen.append(port)
    return tuple(chosen)


def spread(nodes: list[tuple[str, str]], service_counts: dict[str, int],
           total_counts: dict[str, int]) -> tuple[str, str]:
    """swarmkit's spread: the node with the fewest tasks of this service, then the
    fewest tasks in all, then the one that joined first. `nodes` are (host, node ID)."""
    order = {host: i for i, (host, _) in enumerate(nodes)}
    return min(nodes, key=lambda n: (service_counts.get(n[0], 0), total_counts.get(n[0], 0),
                                     order[n[0]]))


def new_service_id() -> str:
    return base36_id(25)


def new_task_id() -> str:
    return base36_id(25)
