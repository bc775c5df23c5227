"""The swarm's services orchestrator: what the managers do with a service.

One per swarm (made with its first service). Creating a service checks its spec
as dockerd and swarmkit do, allocates a virtual IP on each of its networks (and on
`ingress` when it publishes there) and its published ports, then places one task
per replica on the swarm's nodes (swarmkit's spread) and has each node start its
tasks, the nodes in parallel; every node then reprograms its load balancers.
Scaling adds tasks or shuts the highest slots down; a task whose container ends
(or is removed by hand) is marked failed at once, its address leaves every load
balancer, and a new task takes its slot after the restart delay (Docker's default
restart policy: any condition, 5 s).

Locks: the orchestrator's own lock orders whole operations; the swarm's lock is held
only while the store changes; engines take their own locks when asked to run or end
tasks, never while holding the swarm's, so no engine waits for another.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from ipaddress import IPv4Interface
from typing import Protocol

from emulator import errdefs as err
from emulator.cnm.names import random_name
from emulator.ids import docker_timestamp
from emulator.swarm.cluster import Swarm
from emulator.swarm.services import (
    DNSRR,
    FAILED,
    INGRESS_MODE,
    RUNNING,
    SHUTDOWN,
    VIP,
    NetworkAttachment,
    Service,
    ServiceSpec,
    Task,
    allocate_ports,
    new_service_id,
    new_task_id,
    spread,
)

RESTART_DELAY = 5.0
"""Docker's default RestartPolicy.Delay: seconds before a failed task's slot is refilled."""
DRAIN_DELAY = 2.0
"""Docker's defaultGossipConvergeDelay: a task shut down by a scale or an update leaves
the balancers this long before its container is stopped (the executor's Shutdown
deactivates the service binding, waits, then stops), so no connection fails."""
REMOVE = "remove"
SERVICE_NAME = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")
"""swarmkit's validateAnnotations: a DNS name component (at most 63 characters)."""
LOCAL_NETWORK = ("The network {name} cannot be used with services. Only networks scoped to "
                 "the swarm can be used, such as those created with the overlay driver.")


class TaskRunner(Protocol):
    """What the orchestrator asks of a node's engine."""

    host: str

    def run_task(self, service: Service, task: Task) -> None:
        """Create and start the task's container (raises what a failed start raises)."""
        ...

    def end_tasks(self, tasks: list[Task]) -> None:
        """Remove the tasks' containers, in one batch."""
        ...

    def refresh_load_balancing(self) -> None: ...


class Orchestrator:
    def __init__(self, swarm: Swarm, restart_delay: float = RESTART_DELAY,
                 drain_delay: float = DRAIN_DELAY) -> None:
        self.swarm = swarm
        self.store = swarm.services
        self.restart_delay = restart_delay
        self.drain_delay = drain_delay
        self.lock = threading.RLock()
        self._timers: dict[str, threading.Timer] = {}
        self._drains: list[threading.Timer] = []
        self._closed = False

    @classmethod
    def of(cls, swarm: Swarm) -> Orchestrator:
        with swarm.lock:
            if swarm.orchestrator is None:
                swarm.orchestrator = cls(swarm)
            return swarm.orchestrator

    # -- requests ----------------------------------------------------------------

    def create(self, spec: ServiceSpec) -> tuple[Service, list[str]]:
        with self.lock:
            with self.swarm.lock:
                spec = self._checked(spec)
                ports = allocate_ports(spec.ports, self.store.used_ingress_ports())
                service = Service(new_service_id(), spec, self.store.next_version(),
                                  ports=ports)
                service.vips = self._allocate_vips(service)
                self.store.services[service.id] = service
            self._converge(service)
            return service, []

    def update(self, ref: str, version: int, spec: ServiceSpec) -> list[str]:
        with self.lock:
            with self.swarm.lock:
                service = self.store.find(ref)
                if version != service.version:
                    raise err.DockerError("rpc error: code = Unknown desc = update out of "
                                          "sequence")
                spec = self._checked(spec, service)
                ports = allocate_ports(spec.ports, self.store.used_ingress_ports(service.id))
                rolling = replace(spec, replicas=0) != replace(service.spec, replicas=0)
                old_vips = service.vips
                service.previous_spec, service.spec = service.spec, spec
                service.ports = ports
                service.version = self.store.next_version()
                service.vips = self._allocate_vips(service, keep=old_vips)
                self._release_vips(old_vips, keep=service.vips)
                service.updated = docker_timestamp()
            if rolling:
                self._shut_down(service, self.store.live_tasks(service.id), drain=True)
            self._converge(service)
            return []

    def remove(self, ref: str) -> None:
        with self.lock:
            with self.swarm.lock:
                service = self.store.find(ref)
            timer = self._timers.pop(service.id, None)
            if timer is not None:
                timer.cancel()
            self._shut_down(service, self.store.tasks_of(service.id), forget=True,
                            desired=REMOVE)
            with self.swarm.lock:
                self._release_vips(service.vips)
                del self.store.services[service.id]
            self._refresh_all()

    def task_ended(self, task_id: str, exit_code: int) -> None:
        """A task's container ended or was removed on its node (not asked by us)."""
        with self.lock:
            task = self.store.tasks.get(task_id)
            if (self._closed or task is None or task.desired_state != RUNNING
                    or task.ended):
                return
            message = f"task: non-zero exit ({exit_code})" if exit_code else ""
            task.set_state(FAILED if exit_code else "complete",
                           "failed" if exit_code else "finished", message)
            task.desired_state = SHUTDOWN
            self._refresh_all()
            self._schedule(task.service_id)

    def close(self) -> None:
        """The swarm is going: no timer may start tasks any more."""
        with self.lock:
            self._closed = True
            for timer in [*self._timers.values(), *self._drains]:
                timer.cancel()
            self._timers.clear()
            self._drains.clear()

    def node_left(self, host: str) -> None:
        """A node left the swarm: its tasks are gone; their slots go elsewhere."""
        with self.lock:
            touched = set()
            for task in list(self.store.tasks.values()):
                if task.host == host:
                    if task.desired_state == RUNNING:
                        touched.add(task.service_id)
                    del self.store.tasks[task.id]
            for service_id in touched:
                self._schedule(service_id)
            self._refresh_all()

    # -- checks and allocation --------------------------------------------------------

    def _checked(self, spec: ServiceSpec, current: Service | None = None) -> ServiceSpec:
        """The spec with its network references resolved to IDs; dockerd's refusals."""
        name = spec.name or (current.name if current else
                             random_name(new_service_id(),
                                         {s.name for s in self.store.services.values()}))
        if current is not None and name != current.name:
            raise err.NotImplementedByEmulator("rpc error: code = Unimplemented desc = "
                                               "renaming services is not supported")
        if spec.replicas < 0:
            raise err.InvalidParameter("rpc error: code = InvalidArgument desc = Number of "
                                       "replicas must be non-negative")
        if len(name) > 63 or not SERVICE_NAME.fullmatch(name):
            raise err.InvalidParameter("rpc error: code = InvalidArgument desc = name must be "
                                       "valid as a DNS name component")
        self.store.check_name(name, current.id if current else None)
        if spec.endpoint_mode not in (VIP, DNSRR):
            raise err.InvalidParameter(
                f"rpc error: code = InvalidArgument desc = invalid endpoint mode: "
                f"{spec.endpoint_mode}")
        if spec.endpoint_mode == DNSRR and any(p.mode == INGRESS_MODE for p in spec.ports):
            raise err.InvalidParameter(
                "rpc error: code = InvalidArgument desc = EndpointSpec: port published with "
                "ingress mode can't be used with dnsrr mode")
        if spec.ingress_ports() and self._ingress() is None:
            raise err.InvalidParameter("rpc error: code = FailedPrecondition desc = service "
                                       "needs ingress network, but no ingress network is "
                                       "present")
        networks = []
        for attachment in spec.networks:
            network = self._swarm_network(attachment.target)
            if any(n.target == network for n in networks):
                raise err.InvalidParameter(
                    "rpc error: code = InvalidArgument desc = duplicate network "
                    f"{attachment.target}")
            networks.append(NetworkAttachment(network, attachment.aliases))
        return replace(spec, name=name, networks=tuple(networks))

    def _swarm_network(self, ref: str) -> str:
        by_id = self.swarm.networks.get(ref)
        if by_id is not None:
            found = by_id
        else:
            named = [n for n in self.swarm.networks.values() if n.name == ref]
            prefixed = [n for n in self.swarm.networks.values() if n.id.startswith(ref)]
            candidates = named or prefixed
            if not candidates:
                local = [n for e in self.swarm.engines.values()
                         for n in e.networks.values() if ref in (n.name, n.id)]
                if local:
                    raise err.Forbidden(LOCAL_NETWORK.format(name=local[0].name))
                raise err.DockerError(f"network {ref} not found")
            found = candidates[0]
        if found.ingress:
            raise err.InvalidParameter(
                "rpc error: code = InvalidArgument desc = Service cannot be explicitly "
                f"attached to the ingress network \"{found.name}\"")
        return found.id

    def _ingress(self):
        return next((n for n in self.swarm.networks.values() if n.ingress), None)

    def _allocate_vips(self, service: Service, keep: dict[str, IPv4Interface] | None = None
                       ) -> dict[str, IPv4Interface]:
        keep = keep or {}
        wanted = list(service.network_ids()) if service.spec.endpoint_mode == VIP else []
        ingress = self._ingress()
        if service.ingress_ports() and ingress is not None:
            wanted.insert(0, ingress.id)
        vips: dict[str, IPv4Interface] = {}
        space = self.swarm.addresses
        try:
            for net_id in wanted:
                if net_id in keep:
                    vips[net_id] = keep[net_id]
                    continue
                pool = space.pool(self.swarm.networks[net_id].pool_id)
                try:
                    address = space.request_address(pool.id)
                except err.Unavailable:
                    raise err.DockerError(
                        "rpc error: code = ResourceExhausted desc = could not allocate VIP "
                        f"on network {self.swarm.networks[net_id].name}") from None
                vips[net_id] = IPv4Interface(f"{address}/{pool.subnet.prefixlen}")
        except Exception:
            self._release_vips(vips, keep=keep)
            raise
        return vips

    def _release_vips(self, vips: dict[str, IPv4Interface],
                      keep: dict[str, IPv4Interface] | None = None) -> None:
        keep = keep or {}
        for net_id, vip in vips.items():
            network = self.swarm.networks.get(net_id)
            if network is not None and keep.get(net_id) != vip:
                self.swarm.addresses.release_address(network.pool_id, vip.ip)

    # -- tasks ---------------------------------------------------------------------

    def _converge(self, service: Service) -> None:
        """Start tasks for the missing slots, shut down those beyond the replicas."""
        with self.swarm.lock:
            if service.id not in self.store.services:
                return
            live = self.store.live_tasks(service.id)
            slots = {t.slot for t in live}
            extra = [t for t in live if t.slot > service.spec.replicas]
            missing = [s for s in range(1, service.spec.replicas + 1) if s not in slots]
            new = [self._place(service, slot) for slot in missing]
        self._shut_down(service, extra, forget=True, desired=REMOVE, drain=True)
        self._start(service, new)
        self._refresh_all()

    def _place(self, service: Service, slot: int) -> Task:
        nodes = [(host, node.node_id) for host, node in self.swarm.nodes.items()
                 if host in self.swarm.engines]
        if not nodes:
            raise err.Unavailable("no suitable node")
        live = [t for t in self.store.tasks.values() if t.desired_state == RUNNING]
        per_service = Counter(t.host for t in live if t.service_id == service.id)
        total = Counter(t.host for t in live)
        host, node_id = spread(nodes, per_service, total)
        task = Task(new_task_id(), service.id, slot, host, node_id, self.store.next_version())
        task.set_state("assigned", "scheduler assigned task to node")
        self.store.tasks[task.id] = task
        return task

    def _start(self, service: Service, tasks: list[Task]) -> None:
        by_host: dict[str, list[Task]] = {}
        for task in tasks:
            by_host.setdefault(task.host, []).append(task)
        if not by_host:
            return

        def run_on(host: str) -> None:
            runner: TaskRunner = self.swarm.engines[host]
            for task in by_host[host]:
                task.set_state("preparing", "preparing")
                try:
                    runner.run_task(service, task)
                except err.DockerError as exc:
                    task.set_state("rejected", "starting", exc.message)
                    task.desired_state = SHUTDOWN
                    self._schedule(service.id)
                else:
                    task.set_state(RUNNING, "started")

        self._each_host(run_on, list(by_host))

    def _shut_down(self, service: Service, tasks: list[Task], forget: bool = False,
                   desired: str = SHUTDOWN, drain: bool = False) -> None:
        """Take the tasks out of the balancers, then (after the drain delay, with
        `drain`) remove their containers; `forget` them afterwards (Docker's scale-down
        and removal: desired state "remove") or keep them as the slot's history."""
        if not tasks:
            return
        for task in tasks:
            task.desired_state = desired
        if not (drain and self.drain_delay > 0 and any(t.container_id for t in tasks)):
            self._stop(service, tasks, forget)
            return
        self._refresh_all()

        def stop_later() -> None:
            with self.lock:
                if timer in self._drains:
                    self._drains.remove(timer)
                if not self._closed:
                    self._stop(service, tasks, forget)

        timer = threading.Timer(self.drain_delay, stop_later)
        timer.daemon = True
        self._drains.append(timer)
        timer.start()

    def _stop(self, service: Service, tasks: list[Task], forget: bool) -> None:
        by_host: dict[str, list[Task]] = {}
        for task in tasks:
            by_host.setdefault(task.host, []).append(task)

        def end_on(host: str) -> None:
            runner = self.swarm.engines.get(host)
            ending = [t for t in by_host[host] if t.container_id]
            if runner is not None and ending:
                runner.end_tasks(ending)
            for task in by_host[host]:
                if not task.ended:
                    task.set_state(SHUTDOWN, "shutdown")

        self._each_host(end_on, list(by_host))
        with self.swarm.lock:
            for task in tasks:
                if forget:
                    self.store.tasks.pop(task.id, None)
                else:
                    for old in self.store.trim_history(service.id, task.slot):
                        self.store.tasks.pop(old.id, None)

    def _schedule(self, service_id: str) -> None:
        """Refill the service's empty slots after the restart delay."""
        if self._closed or service_id in self._timers:
            return

        def refill() -> None:
            with self.lock:
                self._timers.pop(service_id, None)
                service = self.store.services.get(service_id)
                if service is None or self._closed:
                    return
                self._converge(service)

        timer = threading.Timer(self.restart_delay, refill)
        timer.daemon = True
        self._timers[service_id] = timer
        timer.start()

    def _refresh_all(self) -> None:
        self._each_host(lambda host: self.swarm.engines[host].refresh_load_balancing(),
                        list(self.swarm.engines))

    @staticmethod
    def _each_host(work: Callable[[str], None], hosts: list[str]) -> None:
        """Run `work` for each host, the hosts in parallel; the first error is raised."""
        if not hosts:
            return
        if len(hosts) == 1:
            work(hosts[0])
            return
        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            for future in [pool.submit(work, host) for host in hosts]:
                future.result()

    def status(self, service: Service) -> tuple[int, int]:
        """(running tasks, desired tasks), as `docker service ls` shows them."""
        running = sum(1 for t in self.store.tasks_of(service.id) if t.serving)
        return running, service.spec.replicas

