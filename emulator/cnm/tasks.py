"""One node's side of swarm services: the task containers placed on it, and the
sandboxes in which Docker balances services (its ingress sandbox and one
load-balancer sandbox per swarm network).

A task runs as a container named `SERVICE.SLOT.TASKID` with Docker's swarm labels,
on the service's networks (and `ingress` when the service publishes there), even
when they are not attachable.

Load balancing is where libnetwork puts it (since Docker 18.09), not in the client
containers:
- `lb-NET` (endpoint `NET-endpoint`): made on a node when the first container joins
  the swarm network NET there, removed with the last. Each VIP on NET with at least one
  task is an address of its interface; connections to it are balanced over every
  task of the service (whatever node runs it), their source rewritten to the
  sandbox's own address. So a task reached through a VIP sees the lb-NET address of
  the client's node.
- `ingress-sbox` (endpoints `ingress-endpoint` on `ingress` and `gateway_ingress-sbox`
  on docker_gwbridge): made when the node enters the swarm. The host firewall DNATs
  each routing-mesh port to its docker_gwbridge address; it balances them over the
  tasks' ingress addresses (same port), sources rewritten to its ingress address;
  each task redirects the published port to its target port.

Docker does the balancing with IPVS, which this kernel lacks; the fabric does it with
nftables (see the README). Programs are recomputed from the swarm's service store at
the end of every write of the engine and when the orchestrator says tasks changed;
only sandboxes whose program changed are reprogrammed.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address

from emulator.cnm.containers import Containers
from emulator.cnm.endpoints import AttachRequest
from emulator.cnm.model import Attachment, Container, Network
from emulator.cnm.state import HostState
from emulator.drivers.base import SWARM
from emulator.drivers.hostfirewall import FirewallPart, PublishedPort
from emulator.drivers.portmapping import PortBinding, PortOptions
from emulator.fabric.base import IngressPort, IngressRules, TaskIngress, VirtualServer
from emulator.swarm.cluster import GWBRIDGE, Swarm, SwarmNode
from emulator.swarm.services import HOST_MODE, VIP, Service, ServiceStore, Task

INGRESS_SANDBOX = "ingress-sbox"
INGRESS_ENDPOINT = "ingress-endpoint"
LB_PREFIX = "lb-"
INGRESS_FIREWALL_KEY = "swarm-ingress"

Program = tuple[tuple[VirtualServer, ...], IngressRules | None]


def lb_sandbox_id(network: Network) -> str:
    return f"{LB_PREFIX}{network.name}"


def task_labels(service: Service, task: Task, node: SwarmNode) -> dict[str, str]:
    """The labels Docker's swarm executor puts on a task's container."""
    return {"com.docker.swarm.node.id": node.node_id,
            "com.docker.swarm.service.id": service.id,
            "com.docker.swarm.service.name": service.name,
            "com.docker.swarm.task": "",
            "com.docker.swarm.task.id": task.id,
            "com.docker.swarm.task.name": task.name(service)}


def host_mode_ports(service: Service) -> PortOptions:
    """`--publish mode=host`: published on the node running the task, as `-p` is."""
    bindings = tuple(PortBinding(p.protocol, p.target, None, p.published)
                     for p in service.ports if p.mode == HOST_MODE)
    return PortOptions(bindings=bindings)


class NodeTasks:
    """The tasks and load-balancing sandboxes of one engine."""

    def __init__(self, state: HostState, containers: Containers,
                 adopt: Callable[[str], Network], swarm: Callable[[], Swarm | None]) -> None:
        """`adopt(network_id)`: this host's copy of a swarm network, made if need be;
        `swarm()`: the swarm the host is in now."""
        self._state = state
        self._containers = containers
        self._adopt = adopt
        self._swarm = swarm
        self._programmed: dict[str, tuple[object, Program]] = {}
        self._ingress_ports: tuple[PublishedPort, ...] = ()
        self._running: dict[str, str] = {}

    # -- tasks -------------------------------------------------------------------

    def run(self, service: Service, task: Task, node: SwarmNode, ingress_id: str | None
            ) -> Container:
        """Create and start the task's container; its addresses are recorded on the task."""
        networks = [AttachRequest(n.target, aliases=n.aliases) for n in service.spec.networks]
        publishes = ingress_id is not None and bool(service.ingress_ports())
        if publishes:
            networks.insert(0, AttachRequest(ingress_id))
        for request in networks:
            self._adopt(request.network)
        if not networks:  # Docker's executor: a task on no network is on the default bridge
            networks = [AttachRequest("bridge")]
        container = self._containers.create(
            task.name(service), networks, hostname=service.spec.hostname or None,
            command=service.spec.argv or None, image=service.spec.image,
            labels=task_labels(service, task, node), env=list(service.spec.env),
            ports=host_mode_ports(service), task_id=task.id)
        task.container_id = container.id
        try:
            self._containers.start(container.id)
            if publishes:
                endpoint = container.endpoints[ingress_id]
                self._state.fabric.program_task_ingress(container.sandbox, TaskIngress(
                    endpoint.address.ip,
                    tuple((p.protocol, p.published, p.target) for p in service.ingress_ports())))
        except Exception:
            self._containers.remove([container.id], force=True)
            raise
        task.addresses = {net_id: ep.address for net_id, ep in container.endpoints.items()
                          if ep.address is not None}
        return container

    def end(self, tasks: list[Task]) -> None:
        """Remove the tasks' containers, in one batch (those already gone: nothing)."""
        doomed = [t.container_id for t in tasks if t.container_id in self._state.containers]
        for cid in doomed:
            self._running.pop(cid, None)
        if doomed:
            self._containers.remove(doomed, force=True)

    def collect_ended(self) -> list[tuple[str, int]]:
        """Task containers that stopped or went since the last call: (task ID, exit code;
        137, a kill's, for one removed while it ran)."""
        containers = self._state.containers
        ended = []
        for cid, task_id in list(self._running.items()):
            container = containers.get(cid)
            if container is None or not container.running:
                ended.append((task_id, 137 if container is None else container.exit_code))
                del self._running[cid]
        for container in containers.values():
            if container.task_id and container.running:
                self._running.setdefault(container.id, container.task_id)
        return ended

    def remove_all(self) -> None:
        """The node leaves the swarm: its tasks and load-balancing sandboxes go."""
        containers = self._state.containers
        self._containers.remove([c.id for c in containers.values() if c.task_id], force=True)
        self._running.clear()
        for cid in [c.id for c in containers.values() if c.hidden]:
            self._programmed.pop(cid, None)
            self._containers.remove_hidden(cid)
        self._publish_ingress(None)

    def dns_records(self) -> dict[str, dict[str, tuple[IPv4Address, ...]]]:
        """The services' names on this host's swarm networks, for the embedded DNS."""
        swarm = self._swarm()
        if swarm is None or not swarm.services.services:
            return {}
        with swarm.lock:
            return swarm.services.dns_records(
                n.id for n in self._state.networks.values() if n.scope == SWARM)

    # -- load-balancing sandboxes ------------------------------------------------------

    def make_ingress_sandbox(self, ingress: Network) -> None:
        self._make_sandbox(INGRESS_SANDBOX, ingress, INGRESS_ENDPOINT, gateway=True)

    def before_join(self, container: Container, network: Network) -> None:
        """A container is about to join a swarm network: the node's lb-NET comes first,
        as libnetwork makes it with the network."""
        if (network.scope != SWARM or network.ingress or container.hidden
                or lb_sandbox_id(network) in self._state.containers):
            return
        self._make_sandbox(lb_sandbox_id(network), network, f"{network.name}-endpoint",
                           gateway=False)

    def _make_sandbox(self, cid: str, network: Network, endpoint: str, gateway: bool) -> None:
        containers = self._state.containers
        if cid in containers:
            return
        sandbox = Container(id=cid, name=cid, hostname=cid, command=[], created="",
                            hidden=True, gateway_bridge=gateway,
                            attachments={network.id: Attachment(network.id)})
        containers[cid] = sandbox
        try:
            self._containers.start_without_process(sandbox, {network.id: endpoint})
        except Exception:
            containers.pop(cid, None)
            raise

    def refresh(self) -> None:
        """Program the load-balancing sandboxes for the swarm's services as they are now;
        remove the lb-NET sandboxes no container of NET needs any more."""
        containers = self._state.containers
        for cid in [c.id for c in containers.values() if c.hidden and c.id != INGRESS_SANDBOX]:
            if not self._still_needed(containers[cid]):
                self._programmed.pop(cid, None)
                self._containers.remove_hidden(cid)
        swarm = self._swarm()
        if swarm is None:
            return
        with swarm.lock:
            store = swarm.services
            for container in [c for c in containers.values() if c.hidden]:
                sandbox = container.sandbox
                if sandbox is None:
                    continue
                program = self._program(container, store)
                last = self._programmed.get(container.id)
                if last is None and program == ((), None):
                    continue
                if last is None or last[0] is not sandbox or last[1] != program:
                    self._state.fabric.program_load_balancer(sandbox, *program)
                    self._programmed[container.id] = (sandbox, program)
            self._publish_ingress(store)

    def _still_needed(self, lb: Container) -> bool:
        network = next((self._state.networks.get(n) for n in lb.endpoints), None)
        return network is not None and any(ep.container_id != lb.id
                                           for ep in network.endpoints.values())

    def _program(self, sandbox: Container, store: ServiceStore) -> Program:
        network = next((self._state.networks[n] for n in sandbox.endpoints
                        if self._state.networks[n].scope == SWARM), None)
        if network is None or not store.services:
            return (), None
        own = sandbox.endpoints[network.id].address
        servers = []
        ports = []
        for service in store.services_on(network.id):
            backends = tuple(store.backends(service.id, network.id))
            vip = service.vips.get(network.id)
            if vip is not None and backends and service.spec.endpoint_mode == VIP:
                servers.append(VirtualServer(vip.ip, backends))
            if network.ingress:
                ports += [IngressPort(p.protocol, p.published, p.published, backends)
                          for p in service.ingress_ports()]
        if not servers and not ports:
            return (), None
        return tuple(servers), IngressRules(own.ip, own.network, tuple(ports))

    def _publish_ingress(self, store: ServiceStore | None) -> None:
        """The host's DOCKER-INGRESS DNAT: every routing-mesh port to the ingress sandbox."""
        sandbox = self._state.containers.get(INGRESS_SANDBOX)
        target = self._gateway_address(sandbox) if sandbox is not None else None
        ports: tuple[PublishedPort, ...] = ()
        ingress = next((n for n in (sandbox.endpoints if sandbox else ())
                        if self._state.networks[n].ingress), None)
        if store is not None and target is not None and ingress is not None:
            ports = tuple(PublishedPort(GWBRIDGE, p.protocol, None, p.published, target,
                                        p.published)
                          for s in store.services.values() if store.backends(s.id, ingress)
                          for p in s.ingress_ports())
        if ports == self._ingress_ports:
            return
        if ports:
            self._state.firewall.contribute(INGRESS_FIREWALL_KEY, FirewallPart(published=ports))
        else:
            self._state.firewall.withdraw(INGRESS_FIREWALL_KEY)
        self._ingress_ports = ports

    def _gateway_address(self, sandbox: Container) -> IPv4Address | None:
        for net_id, endpoint in sandbox.endpoints.items():
            network = self._state.networks.get(net_id)
            if network is not None and network.name == GWBRIDGE and endpoint.address:
                return endpoint.address.ip
        return None
