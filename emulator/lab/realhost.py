"""The Python face of a Docker host run by a real dockerd, shaped like the emulated one.

`host.networks.create(...)`, `host.containers.run(...)`, `container.ip(...)`,
`container.exec(...)`: the same calls as on an emulated host (dockerhost.py), carried
out through the host's Engine API with docker-py. What only the emulator can do
(`host.engine`, neighbour pinning) is not here; asking for it says so.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address

import docker
import docker.errors
import docker.types

from emulator.fabric.base import ExecResult
from emulator.lab.realdocker import RealDockerd

DEFAULT_COMMAND = ["sleep", "infinity"]
IMAGE = "alpine"


class RealNetworkHandle:
    def __init__(self, client: docker.DockerClient, attrs: dict, warnings: tuple[str, ...] = ()
                 ) -> None:
        self._client = client
        self._attrs = attrs
        self._warnings = warnings

    @property
    def id(self) -> str:
        return self._attrs["Id"]

    @property
    def name(self) -> str:
        return self._attrs["Name"]

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._warnings

    @property
    def bridge(self) -> str | None:
        if self._attrs.get("Driver") != "bridge":
            return None
        options = self._attrs.get("Options") or {}
        return options.get("com.docker.network.bridge.name") or f"br-{self.id[:12]}"

    def inspect(self) -> dict[str, object]:
        return self._client.api.inspect_network(self.id)

    def connect(self, container: RealContainerHandle | str, ip: str | None = None,
                aliases: Iterable[str] = ()) -> None:
        ref = container.id if isinstance(container, RealContainerHandle) else container
        self._client.api.connect_container_to_network(ref, self.id, ipv4_address=ip,
                                                      aliases=list(aliases) or None)

    def disconnect(self, container: RealContainerHandle | str, force: bool = False) -> None:
        ref = container.id if isinstance(container, RealContainerHandle) else container
        self._client.api.disconnect_container_from_network(ref, self.id, force=force)

    def remove(self) -> None:
        self._client.api.remove_network(self.id)

    def __repr__(self) -> str:
        return f"<Network {self.name} ({self.id[:12]})>"


class RealContainerHandle:
    def __init__(self, client: docker.DockerClient, cid: str) -> None:
        self._client = client
        self._id = cid

    def _inspect(self) -> dict:
        return self._client.api.inspect_container(self._id)

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._inspect()["Name"].lstrip("/")

    @property
    def running(self) -> bool:
        return bool(self._inspect()["State"]["Running"])

    @property
    def pid(self) -> int | None:
        return self._inspect()["State"]["Pid"] or None

    def _endpoint(self, network: str | None) -> dict | None:
        networks = self._inspect()["NetworkSettings"]["Networks"] or {}
        if network is None:
            return next(iter(networks.values()), None)
        return networks.get(network)

    def ip(self, network: str | None = None) -> IPv4Address | None:
        ep = self._endpoint(network)
        address = ep.get("IPAddress") if ep else None
        return ip_address(address) if address else None  # type: ignore[return-value]

    def mac(self, network: str | None = None) -> str | None:
        ep = self._endpoint(network)
        return (ep.get("MacAddress") or None) if ep else None

    def exec(self, argv: list[str], timeout: float = 30.0,
             privileged: bool = False) -> ExecResult:
        exec_id = self._client.api.exec_create(self._id, argv, privileged=privileged)["Id"]
        out, err = self._client.api.exec_start(exec_id, demux=True)
        code = self._client.api.exec_inspect(exec_id)["ExitCode"]
        return ExecResult(code, (out or b"").decode(errors="replace"),
                          (err or b"").decode(errors="replace"))

    def stop(self) -> None:
        self._client.api.stop(self._id)

    def start(self) -> None:
        self._client.api.start(self._id)

    def remove(self, force: bool = False) -> None:
        self._client.api.remove_container(self._id, force=force)

    def wait(self, condition: str = "not-running") -> int:
        return int(self._client.api.wait(self._id, condition=condition)["StatusCode"])

    def logs(self) -> bytes:
        return self._client.api.logs(self._id)

    def __repr__(self) -> str:
        return f"<Container {self.name} ({self._id[:12]})>"


class RealNetworkCollection:
    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client

    def create(self, name: str, driver: str = "bridge", *, subnet: str | None = None,
               gateway: str | None = None, ip_range: str | None = None,
               aux_addresses: Mapping[str, str] | None = None, internal: bool = False,
               attachable: bool = False, options: Mapping[str, str] | None = None,
               labels: Mapping[str, str] | None = None, ipv6: bool = False,
               ipv4: bool = True, subnet6: str | None = None,
               gateway6: str | None = None) -> RealNetworkHandle:
        if not ipv4:
            raise ValueError(f"network {name}: dockerd 20.10 has no IPv6-only networks "
                             "(--ipv4=false came with Docker 28)")
        pools = []
        if subnet or gateway or ip_range or aux_addresses:
            pools.append(docker.types.IPAMPool(
                subnet=subnet, gateway=gateway, iprange=ip_range,
                aux_addresses=dict(aux_addresses or {}) or None))
        if subnet6 or gateway6:
            pools.append(docker.types.IPAMPool(subnet=subnet6, gateway=gateway6))
        ipam = docker.types.IPAMConfig(pool_configs=pools) if pools else None
        answer = self._client.api.create_network(
            name, driver=driver, options=dict(options or {}) or None, ipam=ipam,
            internal=internal, attachable=attachable or None,
            labels=dict(labels or {}) or None, check_duplicate=True,
            enable_ipv6=ipv6 or None)
        warning = answer.get("Warning") or ""
        attrs = self._client.api.inspect_network(answer["Id"])
        return RealNetworkHandle(self._client, attrs, (warning,) if warning else ())

    def get(self, ref: str) -> RealNetworkHandle:
        return RealNetworkHandle(self._client, self._client.api.inspect_network(ref))

    def list(self, filters: Mapping[str, list[str]] | None = None) -> list[RealNetworkHandle]:
        return [RealNetworkHandle(self._client, n)
                for n in self._client.api.networks(filters=dict(filters or {}) or None)]

    def remove(self, ref: str) -> None:
        self._client.api.remove_network(ref)

    def prune(self, filters: Mapping[str, list[str]] | None = None) -> list[str]:
        answer = self._client.api.prune_networks(filters=dict(filters or {}) or None)
        return list(answer.get("NetworksDeleted") or [])


class RealContainerCollection:
    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client

    def run(self, name: str | None = None, network: str | None = None, *,
            networks: Iterable[str] | None = None, ip: str | None = None,
            aliases: Iterable[str] = (), hostname: str | None = None,
            command: list[str] | None = None) -> RealContainerHandle:
        """Like the emulated host's run: the first network at create, the others connected
        before start (as `docker run --network a --network b` does in Docker 28)."""
        requests: list[tuple[str, str | None, list[str]]] = []
        if network is not None:
            requests.append((network, ip, list(aliases)))
        for item in networks or ():
            if isinstance(item, str):
                requests.append((item, None, []))
            else:  # an AttachRequest-like (network, ip, aliases)
                requests.append((item.network, item.ip, list(item.aliases)))
        if not requests:
            requests.append(("bridge", ip, list(aliases)))
        api = self._client.api
        first, *others = requests
        config = api.create_networking_config({first[0]: api.create_endpoint_config(
            ipv4_address=first[1], aliases=first[2] or None)})
        host_config = api.create_host_config(network_mode=first[0])
        created = api.create_container(IMAGE, command or DEFAULT_COMMAND, name=name,
                                       hostname=hostname, host_config=host_config,
                                       networking_config=config, detach=True)
        cid = created["Id"]
        for net, address, names in others:
            api.connect_container_to_network(cid, net, ipv4_address=address,
                                             aliases=names or None)
        api.start(cid)
        return RealContainerHandle(self._client, cid)

    def get(self, ref: str) -> RealContainerHandle:
        return RealContainerHandle(self._client, self._client.api.inspect_container(ref)["Id"])

    def list(self, all: bool = False) -> list[RealContainerHandle]:
        return [RealContainerHandle(self._client, c["Id"])
                for c in self._client.api.containers(all=all)]


class RealDockerHost:
    """A Docker host whose engine is a real dockerd (`engine: docker`)."""

    kind = "docker"

    def __init__(self, name: str, dockerd: RealDockerd, address: IPv4Address,
                 address6: IPv6Address | None = None) -> None:
        self.name = name
        self.dockerd = dockerd
        self.address = address
        self.address6 = address6
        self.networks = RealNetworkCollection(dockerd.client)
        self.containers = RealContainerCollection(dockerd.client)

    @property
    def client(self) -> docker.DockerClient:
        """docker-py's client for this host's Engine API."""
        return self.dockerd.client

    @property
    def url(self) -> str:
        return self.dockerd.url

    @property
    def engine(self):
        raise AttributeError(
            f"{self.name} runs a real Docker Engine (engine: docker): it has no emulated "
            "engine; use its Engine API (host.client, host.networks, host.containers)")

    def exec(self, argv: list[str], timeout: float = 30.0) -> ExecResult:
        """Run a command in the Docker host's own namespace."""
        done = subprocess.run(["nsenter", f"--net=/proc/{self.dockerd.host_pid}/ns/net",
                               "--", *argv], capture_output=True, text=True, timeout=timeout)
        return ExecResult(done.returncode, done.stdout, done.stderr)

    def close(self) -> None:
        self.dockerd.stop()

    def __repr__(self) -> str:
        return f"<DockerHost {self.name} {self.address} (real dockerd)>"
