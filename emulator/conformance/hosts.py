"""The Docker hosts of a conformance run, whichever engine runs them.

A check sees a host only as a user of its Engine API would: networks and containers
made, listed, inspected and removed, errors as Docker's (a `DockerError` with
dockerd's HTTP status and message). An emulated host raises those itself; a real
dockerd's answers come from docker-py as `APIError`s and are translated here.
What a check wants to know of an endpoint is read the same way on both: the
container's inspect data, and the interface with that MAC (or address) in the
container's own namespace (kernel facts, never the engine's internals).

Only three things remain emulator-only, each with its real-engine counterpart here:
removing many containers as one batch (a speed-up of the emulated engine; a real
dockerd gets the removals in parallel), activating a plugin on request (dockerd
does it when a network of the plugin is first made) and reaching a built-in driver
directly (inside dockerd there is no such handle: `engine_driver` is None).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

import docker.errors

from emulator.errdefs import (
    Conflict,
    DockerError,
    Forbidden,
    InvalidParameter,
    NotFound,
    NotImplementedByEmulator,
    Unavailable,
)
from emulator.fabric.netns import Namespace
from emulator.fabric.rtnl import Rtnl
from emulator.lab.dockerhost import DockerHost

PREDEFINED = ("bridge", "host", "none")
_BY_STATUS: dict[int, type[DockerError]] = {
    400: InvalidParameter, 403: Forbidden, 404: NotFound, 409: Conflict,
    501: NotImplementedByEmulator, 503: Unavailable}


def docker_error(exc: docker.errors.APIError) -> DockerError:
    """dockerd's answer as the DockerError an emulated host would raise."""
    message = exc.explanation if isinstance(exc.explanation, str) else str(exc)
    status = exc.status_code or 500
    error = _BY_STATUS.get(status, DockerError)(message)
    error.status = status
    return error


@contextmanager
def api_errors() -> Iterator[None]:
    try:
        yield
    except docker.errors.APIError as exc:
        raise docker_error(exc) from None


def _call(fn: Callable[..., Any], *args: Any, step: str | None = None, **kwargs: Any) -> Any:
    """fn(*args, **kwargs); a DockerError it raises carries `step` (what the kit asked,
    and which driver calls that makes), for a report that names the call."""
    try:
        with api_errors():
            return fn(*args, **kwargs)
    except DockerError as exc:
        if step is not None and getattr(exc, "kit_step", None) is None:
            exc.kit_step = step  # type: ignore[attr-defined]
        raise


def step_of(exc: DockerError) -> str | None:
    """What the kit asked when the engine answered `exc` (see _call)."""
    return getattr(exc, "kit_step", None)


def _label(thing: object) -> str:
    return thing if isinstance(thing, str) else thing.name  # type: ignore[attr-defined]


def _ref(thing: object) -> str:
    return thing if isinstance(thing, str) else thing.id  # type: ignore[attr-defined]


class KitNetwork:
    def __init__(self, handle: Any, host: KitHost) -> None:
        self._handle = handle
        self.host = host

    @property
    def id(self) -> str:
        return self._handle.id

    @property
    def name(self) -> str:
        return self._handle.name

    def inspect(self) -> dict[str, Any]:
        return _call(self._handle.inspect)

    def connect(self, container: KitContainer | str, ip: str | None = None,
                aliases: Iterable[str] = ()) -> None:
        _call(self._handle.connect, _ref(container), ip=ip, aliases=aliases,
              step=f"docker network connect {self.name} {_label(container)} (driver calls "
                   "CreateEndpoint, Join)")

    def disconnect(self, container: KitContainer | str, force: bool = False) -> None:
        _call(self._handle.disconnect, _ref(container), force=force,
              step=f"docker network disconnect {self.name} {_label(container)} (driver calls "
                   "Leave, DeleteEndpoint)")

    def remove(self) -> None:
        _call(self._handle.remove, step=f"docker network rm {self.name} (driver call "
                                        "DeleteNetwork)")

    def __repr__(self) -> str:
        return f"<Network {self.name} on {self.host.name}>"


class KitContainer:
    def __init__(self, handle: Any, host: KitHost) -> None:
        self._handle = handle
        self.host = host
        self.name: str = _call(lambda: handle.name)  # kept: asked after removal too

    @property
    def id(self) -> str:
        return self._handle.id

    @property
    def pid(self) -> int | None:
        return self._handle.pid

    @property
    def running(self) -> bool:
        return self._handle.running

    def ip(self, network: str | None = None) -> IPv4Address | None:
        return self._handle.ip(network)

    def mac(self, network: str | None = None) -> str | None:
        return self._handle.mac(network)

    def exec(self, argv: list[str], timeout: float = 30.0):
        return _call(self._handle.exec, argv, timeout)

    def remove(self, force: bool = False) -> None:
        _call(self._handle.remove, force=force,
              step=f"docker rm{' -f' if force else ''} {self.name} (driver calls Leave, "
                   "DeleteEndpoint for each of its networks)")

    def inspect(self) -> dict[str, Any]:
        """`docker inspect` of the container, from its host's Engine API."""
        return _call(self.host.client.api.inspect_container, self.id)

    def __repr__(self) -> str:
        return f"<Container {self.name} on {self.host.name}>"


class KitNetworks:
    def __init__(self, host: KitHost) -> None:
        self._host = host
        self._collection = host.handle.networks

    def create(self, name: str, driver: str, **kwargs: Any) -> KitNetwork:
        return KitNetwork(_call(self._collection.create, name, driver, **kwargs,
                                step=f"docker network create -d {driver} {name} (driver "
                                     "call CreateNetwork)"), self._host)

    def get(self, ref: str) -> KitNetwork:
        return KitNetwork(_call(self._collection.get, ref), self._host)

    def list(self) -> list[KitNetwork]:
        return [KitNetwork(n, self._host) for n in _call(self._collection.list)]

    def remove(self, ref: str) -> None:
        _call(self._collection.remove, ref,
              step=f"docker network rm {ref[:12]} (driver call DeleteNetwork)")


class KitContainers:
    def __init__(self, host: KitHost) -> None:
        self._host = host
        self._collection = host.handle.containers

    def run(self, name: str, network: str | None = None, *, ip: str | None = None,
            networks: Iterable[object] | None = None) -> KitContainer:
        return KitContainer(_call(self._collection.run, name, network=network, ip=ip,
                                  networks=networks,
                                  step=f"docker run --name {name} on {self._host.name} "
                                       "(driver calls CreateEndpoint, Join)"), self._host)

    def get(self, ref: str) -> KitContainer:
        return KitContainer(_call(self._collection.get, ref), self._host)

    def list(self, all: bool = False) -> list[KitContainer]:
        return [KitContainer(c, self._host) for c in _call(self._collection.list, all=all)]


class KitHost:
    """One Docker host of the run's lab, emulated or real, as the checks use it."""

    def __init__(self, handle: Any, pid: int) -> None:
        self.handle = handle
        self.pid = pid  # a process in the Docker host's own network namespace
        self.networks = KitNetworks(self)
        self.containers = KitContainers(self)

    @property
    def name(self) -> str:
        return self.handle.name

    @property
    def address(self) -> IPv4Address:
        return self.handle.address

    @property
    def kind(self) -> str:
        return self.handle.kind

    @property
    def client(self):
        return self.handle.client

    def exec(self, argv: list[str], timeout: float = 30.0):
        return self.handle.exec(argv, timeout)

    @property
    def emulated(self) -> bool:
        return isinstance(self.handle, DockerHost)

    def version(self) -> str | None:
        """The real engine's version (`docker version`), None for an emulated host."""
        if self.emulated:
            return None
        return str(_call(self.client.version).get("Version", ""))

    def engine_driver(self, name: str) -> Any | None:
        """The emulated engine's driver object, for checks that call it as libnetwork
        would; None on a real engine (its drivers live inside dockerd)."""
        return self.handle.engine.driver(name) if self.emulated else None

    def activate_plugin(self, name: str) -> None:
        """Have the engine activate a plugin now: the emulated engine on request; a real
        dockerd activates it by itself when a network of it is first made."""
        if self.emulated:
            self.handle.engine.drivers.get(name)

    def remove_containers(self, names: set[str]) -> None:
        """Force-remove the named containers; their namespaces' neighbour entries first:
        a probe to an address nobody answers leaves an incomplete entry holding the
        probe, and until it times out (about 3 s) the kernel cannot free the
        container's interfaces, so removal would wait for it."""
        doomed = [c for c in self.containers.list(all=True) if c.name in names]
        flush_neighbours([self.pid, *(c.pid for c in doomed if c.pid)])
        if self.emulated:  # one batch: one settle
            engine = self.handle.engine
            _call(engine.remove_containers, [c.id for c in doomed], force=True,
                  step=f"docker rm -f {' '.join(sorted(c.name for c in doomed))} on "
                       f"{self.name} (driver calls Leave, DeleteEndpoint)")
            return
        errors: list[DockerError] = []

        def remove(container: KitContainer) -> None:
            try:
                container.remove(force=True)
            except NotFound:
                pass
            except DockerError as exc:
                errors.append(exc)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(remove, doomed))
        if errors:
            raise errors[0]

    def user_networks(self) -> list[dict[str, Any]]:
        """Inspect data of every network a reset removes: not the predefined ones."""
        found = []
        for net in self.networks.list():
            if net.name in PREDEFINED:
                continue
            try:
                found.append(net.inspect())
            except NotFound:
                pass
        return found

    def __repr__(self) -> str:
        return f"<KitHost {self.name} ({self.kind})>"


# -- kernel facts -------------------------------------------------------------------

def _namespace_links(pid: int) -> tuple[list, list[tuple[int, IPv4Interface]]]:
    ns = Namespace.of_pid(pid)
    try:
        with ns.entered():
            rtnl = Rtnl()
        try:
            return rtnl.links(), rtnl.addresses()
        finally:
            rtnl.close()
    finally:
        ns.close()


def flush_neighbours(pids: Iterable[int]) -> None:
    """Empty the ARP cache of each namespace (distinct ones once)."""
    seen: set[int] = set()
    for pid in pids:
        try:
            ns = Namespace.of_pid(pid)
        except OSError:
            continue  # the process is gone, and its namespace with it
        try:
            if ns.inode in seen:
                continue
            seen.add(ns.inode)
            with ns.entered():
                rtnl = Rtnl()
            try:
                rtnl.flush_neighbours()
            finally:
                rtnl.close()
        finally:
            ns.close()


@dataclass(frozen=True)
class EndpointView:
    """A container's endpoint on one network, as the Engine API and the kernel show it."""

    id: str
    mac: str | None
    address: IPv4Interface | None
    ifname: str | None  # the interface in the container's namespace, if it has one


def endpoint(container: KitContainer, network_name: str) -> EndpointView | None:
    """The endpoint of `container` on the network `network_name` (None if it has none):
    EndpointID, MAC and address from the container's inspect data; the interface
    name from its namespace (the link with that MAC, else the one with that address)."""
    settings: Mapping[str, Any] = (
        container.inspect()["NetworkSettings"]["Networks"] or {}).get(network_name) or {}
    if not settings.get("EndpointID"):
        return None
    mac = (settings.get("MacAddress") or "").lower() or None
    ip = settings.get("IPAddress")
    address = IPv4Interface(f"{ip}/{settings.get('IPPrefixLen') or 32}") if ip else None
    ifname = None
    if container.pid and (mac or address):
        links, addresses = _namespace_links(container.pid)
        by_index = {link.index: link.name for link in links}
        ifname = next((link.name for link in links if mac and (link.mac or "").lower() == mac
                       and link.name != "lo"), None)
        if ifname is None and address is not None:
            ifname = next((by_index.get(i) for i, a in addresses if a == address), None)
    return EndpointView(settings["EndpointID"], mac, address, ifname)
