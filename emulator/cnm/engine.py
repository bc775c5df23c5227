"""One emulated Docker daemon: the CNM state of one host and Docker's rules.

The engine decides (names, addresses, which operations are allowed, in which
order) and asks drivers to act; it never touches the kernel itself. Every
request is validated completely before the first driver call, and a failure
part-way is rolled back, so a rejected request leaves nothing behind.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address

from emulator.cnm import errors as err
from emulator.cnm.filters import match_network, validate_network_filters
from emulator.cnm.lookup import find
from emulator.cnm.model import Attachment, Container, Endpoint, Network, docker_timestamp, new_id
from emulator.cnm.names import random_name
from emulator.drivers import registry
from emulator.drivers.base import Driver, EndpointSpec, IPAMData, NetworkSpec, SandboxRef
from emulator.fabric.base import ExecResult, HostFabric
from emulator.ipam import AddressSpace, check_ipam_config

PREDEFINED = ("bridge", "host", "none", "default")
DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.bridge.name": "docker0",
    "com.docker.network.driver.mtu": "1500",
}
CONTAINER_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
DEFAULT_COMMAND = ["sleep", "infinity"]


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


@dataclass(frozen=True)
class AttachRequest:
    network: str
    ip: str | None = None
    aliases: tuple[str, ...] = ()


class Engine:
    def __init__(self, host: str, fabric: HostFabric,
                 reserved: Iterable[IPv4Network] = ()) -> None:
        self.host = host
        self.fabric = fabric
        self.reserved = list(reserved)
        self.addresses = AddressSpace()
        self.networks: dict[str, Network] = {}
        self.containers: dict[str, Container] = {}
        self.drivers: dict[str, Driver] = {}
        self._lock = threading.RLock()
        self.on_change: Callable[[list[Container]], None] | None = None
        self._create_predefined()

    def _notify(self, containers: list[Container]) -> None:
        """Tell the owner that these containers' processes started or ended."""
        if self.on_change is not None and containers:
            self.on_change(containers)

    # -- drivers -------------------------------------------------------------

    def driver(self, name: str) -> Driver:
        if name not in self.drivers:
            factory = registry.lookup(name)
            self.drivers[name] = factory(self.fabric)
        return self.drivers[name]

    def driver_of(self, network: Network) -> Driver:
        return self.driver(network.driver)

    # -- networks ------------------------------------------------------------

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
            if network.endpoints:
                names = ", ".join(
                    f'name:"{ep.name}" id:"{ep.id[:12]}"' for ep in network.endpoints.values()
                )
                raise err.Forbidden(
                    f"error while removing network: network {network.name} has active "
                    f"endpoints ({names})"
                )
            self._delete(network)

    def _delete(self, network: Network) -> None:
        self.driver_of(network).delete_network(network.id)
        if network.pool_id is not None:
            self.addresses.release_pool(network.pool_id)
        del self.networks[network.id]

    def prune_networks(self, filters: Mapping[str, list[str]] | None = None) -> list[str]:
        with self._lock:
            filters = dict(filters or {})
            unknown = sorted(set(filters) - {"label", "label!", "until"})
            if unknown:
                raise err.InvalidParameter(f"invalid filter '{unknown[0]}'")
            label_filters = {k: v for k, v in filters.items() if k in ("label", "label!")}
            pruned = []
            for network in list(self.networks.values()):
                if network.predefined or network.endpoints:
                    continue
                if not match_network(network, label_filters):
                    continue
                self._delete(network)
                pruned.append(network.name)
            return pruned

    # -- containers ----------------------------------------------------------

    def reap_exited(self) -> None:
        """Containers whose process ended by itself are exited: endpoints released."""
        with self._lock:
            ended = []
            for container in self.containers.values():
                if container.running and container.sandbox is not None:
                    code = self.fabric.sandbox_exit_code(container.sandbox)
                    if code is not None:
                        self._teardown(container)
                        container.exit_code = code
                        ended.append(container)
            if ended:
                self.fabric.settle()
                self._notify(ended)

    def get_container(self, ref: str) -> Container:
        with self._lock:
            return find(self.containers.values(), ref.lstrip("/"), lambda c: c.id,
                        lambda c: c.name, f"No such container: {ref}", "container")

    def run_container(
        self,
        name: str | None = None,
        networks: Iterable[AttachRequest] = (AttachRequest("bridge"),),
        hostname: str | None = None,
        command: list[str] | None = None,
    ) -> Container:
        with self._lock:
            requests = list(networks) or [AttachRequest("bridge")]
            container = self.create_container(name, requests, hostname, command)
            try:
                self.start_container(container.id)
            except Exception:
                self.containers.pop(container.id, None)
                raise
            return container

    def create_container(self, name: str | None, networks: list[AttachRequest],
                         hostname: str | None = None, command: list[str] | None = None,
                         image: str = "", labels: Mapping[str, str] | None = None,
                         env: list[str] | None = None) -> Container:
        with self._lock:
            cid = new_id()
            if name is None:
                name = _generated_name(cid, self.containers.values())
            name = name.lstrip("/")
            if not CONTAINER_NAME.match("/" + name):
                raise err.InvalidParameter(
                    f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )
            for other in self.containers.values():
                if other.name == name:
                    raise err.Conflict(
                        f'Conflict. The container name "/{name}" is already in use by container '
                        f'"{other.id}". You have to remove (or rename) that container to be able '
                        "to reuse that name."
                    )
            attachments: dict[str, Attachment] = {}
            for request in networks:
                network = self.get_network(request.network)
                try:
                    self._check_attach(network, attachments, request, name)
                except err.InvalidParameter as exc:
                    if exc.message.startswith("invalid endpoint settings"):
                        raise err.InvalidParameter(
                            f"invalid config for network {network.name}: {exc.message}"
                        ) from None
                    raise
                attachments[network.id] = Attachment(network.id, request.ip, request.aliases)
            container = Container(
                id=cid, name=name, hostname=hostname or cid[:12],
                command=list(command or DEFAULT_COMMAND), created=docker_timestamp(),
                attachments=attachments, image=image, labels=dict(labels or {}),
                env=list(env or []),
            )
            self.containers[cid] = container
            return container

    def _check_attach(self, network: Network, attachments: Mapping[str, Attachment],
                      request: AttachRequest, container_name: str,
                      creating: bool = True) -> None:
        """dockerd's updateNetworkSettings and validateEndpointSettings, in its order."""
        existing = [self.networks[i] for i in attachments if i in self.networks]
        created_in_host_mode = any(n.driver == "host" for n in existing) or (
            creating and not existing)
        if network.driver == "host" and not created_in_host_mode:
            raise err.InvalidParameter(
                "cannot connect container to host network - container must be created in host "
                "network mode"
            )
        for other in existing:
            if other.id == network.id:
                raise err.Forbidden(
                    f"endpoint with name {container_name} already exists in network "
                    f"{network.name}"
                )
            if other.driver == "host":
                raise err.InvalidParameter(
                    "container sharing network namespace with another container or host cannot "
                    "be connected to any other network"
                )
            if "none" in (other.name, network.name):
                raise err.InvalidParameter(
                    "container cannot be connected to multiple networks with one of the networks "
                    "in private (none) mode"
                )
        problem = self._endpoint_settings_problem(network, request)
        if problem:
            raise err.InvalidParameter(f"invalid endpoint settings:\n{problem}")

    def _endpoint_settings_problem(self, network: Network, request: AttachRequest) -> str | None:
        if request.ip is None:
            if request.aliases and network.predefined:
                return ("network-scoped alias is supported only for containers in user defined "
                        "networks")
            return None
        if network.predefined:
            return "user specified IP address is supported on user defined networks only"
        if not network.ipam_config or not network.ipam_config[0].get("_user_subnet"):
            return ("user specified IP address is supported only when connecting to networks "
                    "with user configured subnets")
        try:
            ip = ip_address(request.ip)
        except ValueError:
            return f"invalid IPv4 address: {request.ip}"
        subnet = self.addresses.pool(network.pool_id).subnet if network.pool_id else None
        if not isinstance(ip, IPv4Address) or subnet is None or ip not in subnet:
            return f"no configured subnet or ip-range contain the IP address {request.ip}"
        return None

    def start_container(self, ref: str) -> Container:
        with self._lock:
            container = self.get_container(ref)
            if container.running:
                return container
            order = list(container.attachments.values())
            for attachment in order:
                if attachment.network_id not in self.networks:
                    raise err.NotFound(f"network {attachment.network_id} not found")
            shares_host = any(self.networks[a.network_id].driver == "host" for a in order)
            container.sandbox = self.fabric.create_sandbox(container.id, container.hostname,
                                                           shares_host)
            container.running = True
            container.next_ifindex = 0
            try:
                for attachment in order:
                    self._join(container, self.networks[attachment.network_id], attachment)
                self._start_process(container)
            except Exception:
                self._teardown(container, graceful=False)
                self.fabric.settle()
                raise
            container.started_at = docker_timestamp()
            self._notify([container])
            return container

    def _start_process(self, container: Container) -> None:
        """The container's own process starts last, as runc's does: its networks are in."""
        env = dict(item.partition("=")[::2] for item in container.env)
        try:
            self.fabric.start_process(container.sandbox, container.command, container.hostname,
                                      env)
        except FileNotFoundError:
            raise err.InvalidParameter(
                "failed to create task for container: OCI runtime create failed: unable to "
                f'start container process: exec: "{container.command[0]}": executable file '
                "not found in $PATH: unknown"
            ) from None
        process = container.sandbox.process
        container.pid = process.pid if process else 0

    def _join(self, container: Container, network: Network, attachment: Attachment) -> Endpoint:
        driver = self.driver_of(network)
        address = None
        if driver.uses_ipam and network.pool_id is not None:
            try:
                ip = self.addresses.request_address(network.pool_id, attachment.ip)
            except err.Unavailable:
                raise err.DockerError(
                    "no available IPv4 addresses on this network's address pools: "
                    f"{network.name} ({network.id})"
                ) from None
            address = IPv4Interface(f"{ip}/{self.addresses.pool(network.pool_id).subnet.prefixlen}")
        ep = Endpoint(id=new_id(), name=container.name, network_id=network.id,
                      container_id=container.id, address=address, mac="",
                      aliases=attachment.aliases, requested_ip=attachment.ip)
        try:
            info = driver.create_endpoint(network.id, EndpointSpec(ep.id, address))
            ep.mac = info.mac
            try:
                ifname = None
                if not driver.shares_host_namespace and driver.name != "null":
                    ifname = f"eth{container.next_ifindex}"
                    container.next_ifindex += 1
                holder = self._gateway_holder(container, extra=network)
                joined = driver.join(network.id, ep.id, SandboxRef(
                    container.sandbox, ifname or "", wants_gateway=holder is network))
                ep.ifname = joined.ifname
                if driver.uses_ipam and network.pool_id and not network.internal:
                    ep.gateway = self.addresses.pool(network.pool_id).gateway
            except Exception:
                driver.delete_endpoint(network.id, ep.id)
                raise
        except Exception:
            if address is not None:
                self.addresses.release_address(network.pool_id, address.ip)
            raise
        container.endpoints[network.id] = ep
        network.endpoints[ep.id] = ep
        if holder is network:
            container.gateway_network = network.id
        return ep

    def _gateway_holder(self, container: Container, extra: Network | None = None,
                        without: str | None = None) -> Network | None:
        """libnetwork's Endpoint ordering: a network that offers a gateway, internal ones
        last, then by name; its endpoint holds the container's default route."""
        candidates = [self.networks[i] for i in container.endpoints if i != without]
        if extra is not None:
            candidates.append(extra)
        offering = [n for n in candidates
                    if not n.internal and self.driver_of(n).uses_ipam and n.pool_id]
        return min(offering, key=lambda n: n.name, default=None)

    def _move_gateway(self, container: Container, leaving: str) -> None:
        """After `leaving` goes, hand the default route to the next network in line."""
        if container.gateway_network != leaving or container.sandbox is None:
            return
        holder = self._gateway_holder(container, without=leaving)
        container.gateway_network = holder.id if holder else None
        if holder is not None and holder.pool_id is not None:
            self.fabric.set_default_route(container.sandbox,
                                          self.addresses.pool(holder.pool_id).gateway)

    def _leave(self, container: Container, network: Network) -> None:
        ep = container.endpoints.pop(network.id, None)
        if ep is None:
            return
        if container.sandbox is not None and container.running:
            self._move_gateway(container, network.id)
        driver = self.driver_of(network)
        driver.leave(network.id, ep.id)
        driver.delete_endpoint(network.id, ep.id)
        network.endpoints.pop(ep.id, None)
        if ep.address is not None and network.pool_id is not None:
            self.addresses.release_address(network.pool_id, ep.address.ip)

    def _teardown(self, container: Container, graceful: bool = True) -> None:
        """End the sandbox first: its namespace takes every veth with it in one kernel
        batch, much faster than deleting them one by one. Call fabric.settle() after."""
        sandbox, container.running = container.sandbox, False
        if sandbox is not None:
            self.fabric.destroy_sandbox(sandbox, graceful)
            container.finished_at = docker_timestamp()
            container.pid = 0
        for net_id in list(container.endpoints):
            self._leave(container, self.networks[net_id])
        container.sandbox = None
        container.gateway_network = None

    def _forget(self, container: Container, graceful: bool = True) -> None:
        self._teardown(container, graceful)
        self.containers.pop(container.id, None)

    def stop_container(self, ref: str) -> Container:
        with self._lock:
            container = self.get_container(ref)
            self._teardown(container)
            self.fabric.settle()
            container.exit_code = 143
            self._notify([container])
            return container

    def remove_container(self, ref: str, force: bool = False) -> None:
        self.remove_containers([ref], force)

    def remove_containers(self, refs: Iterable[str], force: bool = False) -> None:
        """`docker rm [-f] A B ...`: all refused unless every one may go; torn down as a batch."""
        with self._lock:
            doomed = [self.get_container(ref) for ref in refs]
            for container in doomed:
                if container.running and not force:
                    raise err.Conflict(
                        f'cannot remove container "/{container.name}": container is running: '
                        "stop the container before removing or force remove"
                    )
            try:
                for container in doomed:
                    self._forget(container, graceful=False)
            finally:
                self.fabric.settle()
                self._notify(doomed)

    def list_containers(self, all: bool = False) -> list[Container]:
        with self._lock:
            return [c for c in self.containers.values() if all or c.running]

    def connect(self, net_ref: str, container_ref: str, ip: str | None = None,
                aliases: Iterable[str] = ()) -> None:
        with self._lock:
            container = self.get_container(container_ref)
            network = self.get_network(net_ref)
            if network.id in container.attachments and not container.running:
                return
            request = AttachRequest(network.id, ip, tuple(aliases))
            self._check_attach(network, container.attachments, request, container.name,
                               creating=False)
            attachment = Attachment(network.id, ip, tuple(aliases))
            if container.running:
                self._join(container, network, attachment)
            container.attachments[network.id] = attachment

    def disconnect(self, net_ref: str, container_ref: str, force: bool = False) -> None:
        with self._lock:
            container = self.get_container(container_ref)
            network = self.get_network(net_ref)
            if network.id not in container.attachments:
                the = "" if container.running else "the "
                raise err.DockerError(
                    f"container {container.id} is not connected to {the}network {network.name}"
                )
            if network.driver == "host" and container.running:
                raise err.InvalidParameter(
                    "cannot disconnect container from host network - container was created in "
                    "host network mode"
                )
            self._leave(container, network)
            del container.attachments[network.id]

    def exec(self, ref: str, argv: list[str], timeout: float = 30.0) -> ExecResult:
        with self._lock:
            container = self.get_container(ref)
            if not container.running or container.sandbox is None:
                raise err.Conflict(f"container {container.id} is not running")
            sandbox = container.sandbox
        return self.fabric.exec(sandbox, argv, timeout)

    def check(self) -> list[str]:
        """CNI-style CHECK of every endpoint: what drifted from the CNM state."""
        with self._lock:
            problems = []
            for network in self.networks.values():
                for ep in network.endpoints.values():
                    for problem in self.driver_of(network).check(network.id, ep.id):
                        problems.append(f"{network.name}/{ep.name}: {problem}")
            return problems

    def close(self) -> None:
        """Remove every container and network, predefined ones included."""
        with self._lock:
            self.remove_containers(list(self.containers), force=True)
            for network in list(self.networks.values()):
                self._delete(network)


def _ipam_config(pool, request: NetworkRequest) -> dict[str, object]:
    config: dict[str, object] = {"Subnet": str(pool.subnet), "Gateway": str(pool.gateway)}
    if request.ip_range:
        config["IPRange"] = str(pool.ip_range)
    if request.aux_addresses:
        config["AuxiliaryAddresses"] = dict(request.aux_addresses)
    config["_user_subnet"] = request.subnet is not None
    return config


def _next_index(container: Container) -> int:
    used = {ep.ifname for ep in container.endpoints.values()}
    index = 0
    while f"eth{index}" in used:
        index += 1
    return index


def _generated_name(cid: str, existing: Iterable[Container]) -> str:
    taken = {c.name for c in existing}
    return random_name(cid, taken)
