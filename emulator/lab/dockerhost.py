"""The Python face of one emulated Docker host, shaped like docker-py's client.

`host.networks.create(...)`, `host.containers.run(...)`, `container.exec(...)`:
thin handles over the host's Engine, which does all the work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address

import docker

from emulator.api.shapes.networks import network_json
from emulator.cnm.engine import AttachRequest, DnsConfig, Engine, NetworkRequest
from emulator.cnm.model import Container, Network
from emulator.drivers.base import Describer
from emulator.fabric.base import ExecResult
from emulator.ipam import IpamConfig


class NetworkHandle:
    def __init__(self, engine: Engine, network: Network) -> None:
        self._engine = engine
        self._network = network

    @property
    def id(self) -> str:
        return self._network.id

    @property
    def name(self) -> str:
        return self._network.name

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the create answered besides the network: a subnet that will not work as
        expected (the Engine API's NetworkCreateResponse.Warning)."""
        return self._network.warnings

    @property
    def bridge(self) -> str | None:
        driver = self._engine.driver_of(self._network)
        return driver.bridge_name(self._network.id) if isinstance(driver, Describer) else None

    def inspect(self) -> dict[str, object]:
        return network_json(self._network)

    def connect(self, container: ContainerHandle | str, ip: str | None = None,
                aliases: Iterable[str] = ()) -> None:
        ref = container.id if isinstance(container, ContainerHandle) else container
        self._engine.connect(self._network.id, ref, ip=ip, aliases=aliases)

    def disconnect(self, container: ContainerHandle | str, force: bool = False) -> None:
        ref = container.id if isinstance(container, ContainerHandle) else container
        self._engine.disconnect(self._network.id, ref, force=force)

    def remove(self) -> None:
        self._engine.remove_network(self._network.id)

    def __repr__(self) -> str:
        return f"<Network {self.name} ({self.id[:12]})>"


class ContainerHandle:
    def __init__(self, engine: Engine, container: Container) -> None:
        self._engine = engine
        self._container = container

    @property
    def id(self) -> str:
        return self._container.id

    @property
    def name(self) -> str:
        return self._container.name

    @property
    def running(self) -> bool:
        return self._container.running

    @property
    def pid(self) -> int | None:
        sandbox = self._container.sandbox
        return sandbox.process.pid if sandbox and sandbox.process else None

    def ip(self, network: str | None = None) -> IPv4Address | None:
        """The container's address on `network` (by name), or on its first network."""
        for net_id, ep in self._container.endpoints.items():
            if network is None or self._engine.networks[net_id].name == network:
                return ep.address.ip if ep.address else None
        return None

    def mac(self, network: str | None = None) -> str | None:
        """The container's MAC on `network` (by name), or on its first network."""
        for net_id, ep in self._container.endpoints.items():
            if network is None or self._engine.networks[net_id].name == network:
                return ep.mac or None
        return None

    def exec(self, argv: list[str], timeout: float = 30.0,
             privileged: bool = False) -> ExecResult:
        """argv in the container as `docker exec` runs it (`docker exec --privileged`
        with `privileged`: every capability, for nft and other configuration)."""
        return self._engine.exec(self._container.id, argv, timeout, privileged)

    def stop(self) -> None:
        self._engine.lifecycle.stop(self._container.id)

    def start(self) -> None:
        self._engine.lifecycle.start(self._container.id)

    def remove(self, force: bool = False) -> None:
        self._engine.lifecycle.remove(self._container.id, force=force)

    def wait(self, condition: str = "not-running") -> int:
        """`docker wait`: the exit code once the container is not running."""
        return self._engine.lifecycle.wait(self._container.id, condition)

    def logs(self) -> bytes:
        """What the container's process wrote, as `docker logs` shows it."""
        return self._engine.lifecycle.logs(self._container.id)

    def __repr__(self) -> str:
        return f"<Container {self.name} ({self.id[:12]})>"


def dual_stack_configs(subnet: str | None, ip_range: str | None, gateway: str | None,
                       aux_addresses: Mapping[str, str] | None, subnet6: str | None,
                       gateway6: str | None) -> tuple[IpamConfig, ...] | None:
    """A network's IPAM configs when it has an IPv6 subnet or gateway (None: the one
    IPv4 config the other arguments make)."""
    if subnet6 is None and gateway6 is None:
        return None
    v4 = (IpamConfig(subnet, ip_range, gateway, dict(aux_addresses or {})),
          ) if subnet or ip_range or gateway or aux_addresses else ()
    return (*v4, IpamConfig(subnet6, None, gateway6, {}))


class NetworkCollection:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, name: str, driver: str = "bridge", *, subnet: str | None = None,
               gateway: str | None = None, ip_range: str | None = None,
               aux_addresses: Mapping[str, str] | None = None, internal: bool = False,
               attachable: bool = False, options: Mapping[str, str] | None = None,
               labels: Mapping[str, str] | None = None, ipv6: bool = False,
               ipv4: bool = True, subnet6: str | None = None,
               gateway6: str | None = None) -> NetworkHandle:
        configs = dual_stack_configs(subnet, ip_range, gateway, aux_addresses, subnet6, gateway6)
        network = self._engine.create_network(NetworkRequest(
            name, driver, options, subnet, gateway, ip_range, aux_addresses, internal,
            attachable, labels, enable_ipv6=ipv6 or None, enable_ipv4=None if ipv4 else False,
            configs=configs))
        return NetworkHandle(self._engine, network)

    def get(self, ref: str) -> NetworkHandle:
        return NetworkHandle(self._engine, self._engine.get_network(ref))

    def list(self, filters: Mapping[str, list[str]] | None = None) -> list[NetworkHandle]:
        return [NetworkHandle(self._engine, n) for n in self._engine.list_networks(filters)]

    def remove(self, ref: str) -> None:
        self._engine.remove_network(ref)

    def prune(self, filters: Mapping[str, list[str]] | None = None) -> list[str]:
        return self._engine.prune_networks(filters)


class ContainerCollection:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def run(self, name: str | None = None, network: str | None = None, *,
            networks: Iterable[str | AttachRequest] | None = None, ip: str | None = None,
            aliases: Iterable[str] = (), hostname: str | None = None,
            command: list[str] | None = None, dns: DnsConfig | None = None) -> ContainerHandle:
        """`docker run -d`; `dns` carries --dns, --dns-search, --dns-option, --add-host
        and --domainname."""
        requests: list[AttachRequest] = []
        if network is not None:
            requests.append(AttachRequest(network, ip, tuple(aliases)))
        for item in networks or ():
            requests.append(item if isinstance(item, AttachRequest) else AttachRequest(item))
        if not requests:
            requests.append(AttachRequest("bridge", ip, tuple(aliases)))
        container = self._engine.run_container(name, requests, hostname, command, dns=dns)
        return ContainerHandle(self._engine, container)

    def get(self, ref: str) -> ContainerHandle:
        return ContainerHandle(self._engine, self._engine.get_container(ref))

    def list(self, all: bool = False) -> list[ContainerHandle]:
        return [ContainerHandle(self._engine, c) for c in self._engine.list_containers(all)]


class DockerHost:
    """A Docker host run by the emulator's engine (`engine: emulated`)."""

    kind = "emulated"

    def __init__(self, name: str, engine: Engine, address: IPv4Address,
                 url: str | None = None, address6: IPv6Address | None = None) -> None:
        self.name = name
        self.engine = engine
        self.address = address
        self.address6 = address6
        """The host's IPv6 underlay address (with underlay.subnet6), else None."""
        self.url = url
        self.networks = NetworkCollection(engine)
        self.containers = ContainerCollection(engine)
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        """docker-py's client for this host's Engine API (as for a real host)."""
        if self.url is None:
            raise RuntimeError(f"{self.name} serves no Engine API")
        if self._client is None:
            self._client = docker.DockerClient(base_url=self.url, version="1.41", timeout=120)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self.engine.on_change = None
        self.engine.close(namespace_ends=True)

    def exec(self, argv: list[str], timeout: float = 30.0) -> ExecResult:
        """Run a command in the Docker host's own namespace."""
        return self.engine.fabric.exec(None, argv, timeout)

    def ping_sweep(self, targets: Iterable[object],
                   timeout: float = 1.0) -> dict[str, float | None]:
        """Ping many addresses from the host at once: RTT per address, None if unanswered."""
        return self.engine.fabric.sweep([str(t) for t in targets], timeout)

    def pin_neighbours(self, containers: Iterable[ContainerHandle]) -> None:
        """Permanent ARP entries in each container for its peers on shared networks
        (see KernelFabric.pin_neighbours for why a benchmark wants them)."""
        chosen = [c._container for c in containers]
        members: dict[str, list] = defaultdict(list)
        for container in chosen:
            for net_id, ep in container.endpoints.items():
                if ep.address is not None:
                    members[net_id].append(ep)
        for container in chosen:
            entries = [(ep.ifname, peer.address.ip, peer.mac)
                       for net_id, ep in container.endpoints.items() if ep.address is not None
                       for peer in members[net_id] if peer.container_id != container.id]
            if entries and container.sandbox is not None:
                self.engine.fabric.pin_neighbours(container.sandbox, entries)

    def flush_neighbours(self, containers: Iterable[ContainerHandle] = ()) -> None:
        """Empty the ARP caches of the host and of the given containers."""
        sandboxes = [c._container.sandbox for c in containers if c._container.sandbox]
        self.engine.fabric.flush_neighbours(sandboxes)

    def __repr__(self) -> str:
        return f"<DockerHost {self.name} {self.address}>"
