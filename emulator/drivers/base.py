"""The driver contract: everything the engine uses of a network driver, in one file.

Modelled on libnetwork's driverapi plus CNI's CHECK. A new driver's author reads
this file and `null.py` (the smallest complete driver):

- `Driver` is the one core interface every driver implements.
- `Capability` is what a driver declares about itself once, at registration
  (`register(registrar)` in the driver's module): the engine reads it instead of
  asking the driver's class or name.
- The optional protocols below (`SwarmBound`, `GlobalAllocator`, `OptionChecker`,
  `Describer`) are small extras the engine tests for with isinstance, as libnetwork
  tests for `driverapi.GwAllocChecker` or `ExtConner`.
- `DriverContext` is what a driver is built with: the host's fabric, and the host
  firewall the engine owns, to which a driver contributes its part of the ruleset.

A driver receives the fabric it works through (and the host firewall it adds its
rules to), holds no globals and imports no Mininet. Every call validates first and
touches the kernel only once the request is known to be good. Drivers import this
module as `driverapi`; the bookkeeping most drivers share (their networks and
endpoints by id, idempotent deletes, CHECK's first questions) is `bookkeeping.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from emulator.errdefs import InvalidParameter
from emulator.fabric.base import SandboxHandle

if TYPE_CHECKING:
    from emulator.drivers.hostfirewall import HostFirewall
    from emulator.drivers.portmapping import PortBinding
    from emulator.fabric.base import HostFabric

GENERIC_OPTION_NAMES = ("com.docker.network.enable_ipv6", "com.docker.network.enable_ipv4")
GENERIC_OPTIONS = frozenset(GENERIC_OPTION_NAMES)


LOCAL, SWARM, GLOBAL = "local", "swarm", "global"


@dataclass(frozen=True)
class Capability:
    """What a driver declares at registration; the engine asks nothing else of it.

    `scope` is libnetwork's data scope: where its networks are defined (one host;
    the swarm's managers; a datastore shared by every host). `connectivity_scope`
    is how far its endpoints reach each other (libnetwork's ConnectivityScope).
    """

    scope: str = LOCAL
    connectivity_scope: str = LOCAL
    uses_ipam: bool = True
    """Its networks take a pool, and its endpoints addresses, from the IPAM."""
    shares_host_namespace: bool = False
    """A container on it runs in the Docker host's own network namespace (host)."""
    creates_interface: bool = True
    """Joining gives the container an interface (ethN); false for host and null."""
    provides_gateway: bool = True
    """Its networks offer containers a default gateway (bridge, macvlan)."""
    gateway_from_join: bool = False
    """Whether an endpoint offers a gateway is known only from its join's answer (a
    plugin's Join may or may not name one)."""
    released_before_sandbox: bool = False
    """Its endpoints are left before the container's namespace goes (links with no
    host end, whose parent must be free when the container is gone)."""
    reaches_outside_via_gwbridge: bool = False
    """A container on one of its non-internal networks reaches the outside through
    docker_gwbridge (Docker's `gateway_<id>` endpoint), as on overlay networks."""
    isolated_by_host_firewall: bool = False
    """Traffic the host routes between its networks and others is dropped by the
    host firewall (dockerd's FORWARD policy DROP), as for plugins' networks."""
    ipv6: bool = False
    """Its networks may have IPv6 (`--ipv6`); the engine refuses it otherwise."""
    only_network: str | None = None
    """The driver serves only this predefined network ("host", "none")."""
    limits: Mapping[str, str] = field(default_factory=dict)
    """What the driver by design does not do, as the conformance kit should know it:
    feature name (`MTU_OPTION`, `L2_SEGMENT`) -> the reason, in one line."""

    @property
    def multi_host(self) -> bool:
        return self.scope in (SWARM, GLOBAL)


MTU_OPTION = "mtu"
L2_SEGMENT = "l2-segment"


def refuse_unknown_options(options: Mapping[str, str], allowed: tuple[str, ...],
                           driver: str) -> None:
    """Docker ignores option keys a driver does not know; the emulator refuses them."""
    for key in options:
        if key not in allowed:
            raise InvalidParameter(f"option {key} is not supported by the {driver} driver of "
                                   f"this emulator (supported: {', '.join(allowed)})")


@dataclass(frozen=True)
class NetworkSpec:
    id: str
    name: str
    options: Mapping[str, str]
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    enable_ipv4: bool = True


@dataclass(frozen=True)
class IPAMData:
    """The address pools the IPAM gave the network (empty for host and null)."""

    subnet: IPv4Network | None = None
    gateway: IPv4Address | None = None
    subnet6: IPv6Network | None = None
    gateway6: IPv6Address | None = None
    aux_addresses: Mapping[str, IPv4Address] = field(default_factory=dict)
    """--aux-address NAME=ADDRESS of the IPv4 subnet (a plugin's IPv4Data shows them)."""
    aux_addresses6: Mapping[str, IPv6Address] = field(default_factory=dict)
    """--aux-address NAME=ADDRESS of the IPv6 subnet."""


@dataclass(frozen=True)
class EndpointSpec:
    id: str
    address: IPv4Interface | None
    mac: str | None = None
    address6: IPv6Interface | None = None


@dataclass(frozen=True)
class EndpointInfo:
    mac: str
    address: IPv4Interface | None
    address6: IPv6Interface | None = None


@dataclass(frozen=True)
class SandboxRef:
    handle: SandboxHandle
    ifname: str
    wants_gateway: bool


@dataclass(frozen=True)
class JoinInfo:
    ifname: str | None
    gateway: IPv4Address | None = None
    gateway6: IPv6Address | None = None
    routes: tuple[str, ...] = field(default=())
    mac: str | None = None  # when only the join tells it (a plugin's own interface)
    needs_gateway_service: bool = False
    """The join gave no gateway and did not disable Docker's gateway service: the
    container reaches the outside through docker_gwbridge (libnetwork's needDefaultGW)."""


class Driver(Protocol):
    """The core interface. `delete_endpoint` and `delete_network` succeed when the thing
    is already gone (CNI's DEL); `check` returns what drifted ([] = healthy)."""

    name: str

    def validate_network(self, net: NetworkSpec, ipam: IPAMData) -> None: ...

    def create_network(self, net: NetworkSpec, ipam: IPAMData) -> None: ...

    def delete_network(self, net_id: str) -> None: ...

    def network_options(self, net_id: str) -> dict[str, str]: ...

    def create_endpoint(self, net_id: str, ep: EndpointSpec) -> EndpointInfo: ...

    def delete_endpoint(self, net_id: str, ep_id: str) -> None: ...

    def join(self, net_id: str, ep_id: str, sandbox: SandboxRef) -> JoinInfo: ...

    def leave(self, net_id: str, ep_id: str) -> None: ...

    def check(self, net_id: str, ep_id: str) -> list[str]: ...


# -- optional protocols: the engine tests for them with isinstance -----------------

@runtime_checkable
class SwarmBound(Protocol):
    """A swarm-scoped driver told which swarm this host is in (None: it left)."""

    def bind(self, swarm: object | None) -> None: ...


@runtime_checkable
class GlobalAllocator(Protocol):
    """A global-scope driver told once, cluster-wide, that a network comes or goes
    (the remote protocol's AllocateNetwork/FreeNetwork)."""

    def allocate(self, net: NetworkSpec, ipam: IPAMData) -> None: ...

    def free(self, net_id: str) -> None: ...


@runtime_checkable
class OptionChecker(Protocol):
    """A driver that refuses bad options before anything is allocated (a swarm
    network's options are checked on the manager before its subnet and VNI are taken)."""

    def check_options(self, options: Mapping[str, str]) -> None: ...


@runtime_checkable
class PortPublisher(Protocol):
    """A driver that publishes a container's ports on the host (libnetwork's
    ProgramExternalConnectivity and RevokeExternalConnectivity): given the bindings
    asked for, it takes host ports and returns the bindings programmed, one host
    port each; the engine asks it for the endpoint that holds the default route."""

    def publish(self, net_id: str, ep_id: str,
                bindings: tuple[PortBinding, ...]) -> tuple[PortBinding, ...]: ...

    def unpublish(self, net_id: str, ep_id: str) -> None: ...


@runtime_checkable
class Describer(Protocol):
    """A driver whose networks have a device on the Docker host, by name."""

    def bridge_name(self, net_id: str) -> str: ...


@dataclass(frozen=True)
class DriverContext:
    """What a driver is built with: the host's fabric and its firewall."""

    fabric: HostFabric
    firewall: HostFirewall


class DriverFactory(Protocol):
    def __call__(self, context: DriverContext) -> Driver: ...


class Registrar(Protocol):
    """What a driver module's `register(registrar)` is given (libnetwork's Registerer)."""

    def register(self, name: str, factory: DriverFactory, capability: Capability) -> None: ...
