"""The driver contract, modelled on libnetwork's driverapi plus CNI's CHECK.

A driver turns CNM operations into fabric operations for one Docker host. It
receives the fabric it works through, holds no globals and imports no Mininet.
Every call validates first and touches the kernel only once the request is
known to be good.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import ClassVar, Protocol

from emulator.errdefs import InvalidParameter
from emulator.fabric.base import HostFabric, SandboxHandle

GENERIC_OPTION_NAMES = ("com.docker.network.enable_ipv6", "com.docker.network.enable_ipv4")
GENERIC_OPTIONS = frozenset(GENERIC_OPTION_NAMES)


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


@dataclass(frozen=True)
class IPAMData:
    """The address pools the IPAM gave the network (empty for host and null)."""

    subnet: IPv4Network | None = None
    gateway: IPv4Address | None = None


@dataclass(frozen=True)
class EndpointSpec:
    id: str
    address: IPv4Interface | None
    mac: str | None = None


@dataclass(frozen=True)
class EndpointInfo:
    mac: str
    address: IPv4Interface | None


@dataclass(frozen=True)
class SandboxRef:
    handle: SandboxHandle
    ifname: str
    wants_gateway: bool


@dataclass(frozen=True)
class JoinInfo:
    ifname: str | None
    gateway: IPv4Address | None = None
    routes: tuple[str, ...] = field(default=())
    mac: str | None = None  # when only the join tells it (a plugin's own interface)


class Driver(Protocol):
    name: ClassVar[str]
    scope: ClassVar[str]
    uses_ipam: ClassVar[bool]
    shares_host_namespace: ClassVar[bool]

    def validate_network(self, net: NetworkSpec, ipam: IPAMData) -> None: ...

    def create_network(self, net: NetworkSpec, ipam: IPAMData) -> None: ...

    def delete_network(self, net_id: str) -> None: ...

    def network_options(self, net_id: str) -> dict[str, str]: ...

    def create_endpoint(self, net_id: str, ep: EndpointSpec) -> EndpointInfo: ...

    def delete_endpoint(self, net_id: str, ep_id: str) -> None: ...

    def join(self, net_id: str, ep_id: str, sandbox: SandboxRef) -> JoinInfo: ...

    def leave(self, net_id: str, ep_id: str) -> None: ...

    def check(self, net_id: str, ep_id: str) -> list[str]: ...


class DriverFactory(Protocol):
    def __call__(self, fabric: HostFabric) -> Driver: ...
