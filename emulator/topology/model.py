"""The resolved topology: what a lab is built from, with every default filled in.

Plain frozen data, independent of YAML and of how a lab realises it. The loader
produces it from a file after checking everything; Python callers may also build it
directly. Docker-facing values (subnets, gateways, container IPs) stay as written,
because the engine parses them and answers with Docker's own messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import NamedTuple

from .frozenmap import FrozenMap

PREDEFINED_NETWORKS = ("bridge", "host", "none")
BUILTIN_DRIVERS = ("bridge", "host", "null", "macvlan", "overlay")
OUTSIDE_HOST_NAME = "outside"
ENGINES = ("emulated", "docker")
"""What runs a Docker host: the emulator's engine, or a real dockerd inside the host."""
ADDRESS_FAMILIES = ("ipv4", "ipv6")
"""Which of a host's underlay addresses it advertises to a swarm by default."""
IPV6_UNDERLAY_ENGINES = ("emulated",)
"""Engines whose overlay can run VXLAN over IPv6 (Docker 25+; the real engine here is 20.10)."""


def _freeze(obj: object, **values: object) -> None:
    for name, value in values.items():
        object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class UnderlaySpec:
    """The link that joins the Docker hosts and the outside host. With `subnet6`, every
    node on it also has an IPv6 address; `advertise` is the family of the address a
    Docker host advertises to a swarm when `swarm init/join` names none (dockerd's
    `--swarm-default-advertise-addr`): with `ipv6`, overlay VXLAN runs over IPv6."""

    subnet: IPv4Network
    mtu: int = 1500
    subnet6: IPv6Network | None = None
    advertise: str = "ipv4"


@dataclass(frozen=True)
class OutsideSpec:
    """The host standing in for the internet, on the underlay link."""

    address: IPv4Address
    address6: IPv6Address | None = None


@dataclass(frozen=True)
class NetworkSpec:
    """A user-defined network, as `docker network create` would receive it."""

    name: str
    driver: str = "bridge"
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: Mapping[str, str] = field(default_factory=FrozenMap)
    ipv6: bool = False
    ipv4: bool = True
    subnet6: str | None = None
    gateway6: str | None = None
    internal: bool = False
    attachable: bool = False
    options: Mapping[str, str] = field(default_factory=FrozenMap)
    labels: Mapping[str, str] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        _freeze(
            self,
            aux_addresses=FrozenMap(self.aux_addresses),
            options=FrozenMap(self.options),
            labels=FrozenMap(self.labels),
        )


class Attachment(NamedTuple):
    """One network a container is connected to, with its requested IP and aliases."""

    network: str
    ip: str | None = None
    aliases: tuple[str, ...] = ()


def _attachment(item: tuple[object, ...]) -> Attachment:
    network, ip, aliases = Attachment(*item)
    return Attachment(network, ip, tuple(aliases))


@dataclass(frozen=True)
class ContainerSpec:
    """A container started at lab start; the first attachment is the one it is created on."""

    name: str
    attachments: tuple[Attachment, ...] = (Attachment("bridge"),)
    hostname: str | None = None
    command: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _freeze(
            self,
            attachments=tuple(_attachment(item) for item in self.attachments),
            command=None if self.command is None else tuple(self.command),
        )


@dataclass(frozen=True)
class HostSpec:
    """A Docker host: its underlay address, networks and containers, and which engine
    runs it (`emulated`, or `docker`: a real dockerd inside the host's namespace)."""

    name: str
    address: IPv4Address
    networks: tuple[NetworkSpec, ...] = ()
    containers: tuple[ContainerSpec, ...] = ()
    engine: str = "emulated"
    ipv6: bool = False
    """dockerd's --ipv6: IPv6 on the default bridge."""
    fixed_cidr_v6: str | None = None
    """dockerd's --fixed-cidr-v6: the default bridge's IPv6 subnet."""
    address6: IPv6Address | None = None

    def __post_init__(self) -> None:
        _freeze(self, networks=tuple(self.networks), containers=tuple(self.containers))


LAN_MODES = ("promiscuous", "port-security")
LAN_ROUTER_NAME = "router"


@dataclass(frozen=True)
class LanHostSpec:
    """A machine on the emulated LAN (a VM, a server): a fixed address, or DHCP when None."""

    name: str
    address: IPv4Address | None = None


@dataclass(frozen=True)
class DhcpSpec:
    """The pool the LAN's DHCP server hands leases from (inclusive) and the lease time."""

    first: IPv4Address
    last: IPv4Address
    lease: str = "1h"

    def __contains__(self, address: object) -> bool:
        return isinstance(address, IPv4Address) and self.first <= address <= self.last

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1


@dataclass(frozen=True)
class LanSpec:
    """An emulated physical LAN: a switch, a router with a DHCP server, LAN hosts, and
    every Docker host plugged in through a second NIC (eth1) at `docker_hosts[name]`."""

    subnet: IPv4Network
    router: IPv4Address
    mode: str = "promiscuous"
    dhcp: DhcpSpec | None = None
    hosts: tuple[LanHostSpec, ...] = ()
    docker_hosts: Mapping[str, IPv4Address] = field(default_factory=FrozenMap)

    def __post_init__(self) -> None:
        _freeze(self, hosts=tuple(self.hosts), docker_hosts=FrozenMap(self.docker_hosts))


@dataclass(frozen=True)
class PartialTopology:
    """What resolved of a topology that has problems: its Docker hosts (an address
    with a problem is 0.0.0.0), the subnets Docker's networks must not take, whether
    it has a LAN, and where each field is written. Enough to check Docker's semantics
    in the same pass as the file's shape (`cnm topology check`)."""

    hosts: tuple[HostSpec, ...]
    reserved: tuple[IPv4Network, ...]
    has_lan: bool
    source: str
    lines: Mapping[tuple[str | int, ...], int]


@dataclass(frozen=True)
class Topology:
    """A whole lab: its name (which prefixes kernel objects), underlay, outside and hosts,
    and optionally an emulated physical LAN."""

    name: str
    underlay: UnderlaySpec
    outside: OutsideSpec
    hosts: tuple[HostSpec, ...]
    lan: LanSpec | None = None

    def __post_init__(self) -> None:
        _freeze(self, hosts=tuple(self.hosts))

    def advertise_address(self, host: HostSpec) -> IPv4Address | IPv6Address:
        """The address `host` advertises to a swarm when none is named."""
        if self.underlay.advertise == "ipv6" and host.address6 is not None:
            return host.address6
        return host.address

    def with_engine(self, engine: str) -> Topology:
        """The same lab with every Docker host run by `engine` (`cnm lab up --engine`)."""
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
        if self.underlay.advertise == "ipv6" and engine not in IPV6_UNDERLAY_ENGINES:
            raise ValueError(f"engine {engine!r} cannot run this lab: its underlay advertises "
                             "IPv6 (underlay.advertise: ipv6), and overlay VXLAN over IPv6 "
                             "needs Docker 25 or later (the real dockerd here is 20.10)")
        return replace(self, hosts=tuple(replace(h, engine=engine) for h in self.hosts))
