"""The Container Network Model's objects: networks, endpoints, sandboxes.

Plain data. The engine owns and changes them; drivers never see them, only the
specs derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

from emulator.cnm.etcfiles import DnsConfig
from emulator.cnm.runtimespec import RuntimeSpec
from emulator.drivers.portmapping import PortBinding, PortOptions
from emulator.fabric.base import SandboxHandle


@dataclass
class Network:
    id: str
    name: str
    driver: str
    scope: str
    created: str
    options: dict[str, str]
    labels: dict[str, str]
    internal: bool = False
    attachable: bool = False
    predefined: bool = False
    pool_id: str | None = None
    ipam_config: list[dict[str, object]] = field(default_factory=list)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    ingress: bool = False
    address_space: object | None = None  # the swarm's, for swarm-scoped networks
    warnings: tuple[str, ...] = ()  # what the create answered (NetworkCreateResponse.Warning)
    enable_ipv6: bool = False
    enable_ipv4: bool = True
    """False for an IPv6-only network (`--ipv4=false`, Docker 28)."""
    pool_id6: str | None = None
    """The IPv6 pool, when enable_ipv6 (pool_id is the IPv4 one)."""
    address_space6: object | None = None
    """Where pool_id6 lives when not in address_space: the host's own space, for a swarm
    network's IPv6 pool (each node takes its own, as Docker 28's do)."""


@dataclass
class Endpoint:
    id: str
    name: str
    network_id: str
    container_id: str
    address: IPv4Interface | None
    mac: str
    ifname: str | None = None
    aliases: tuple[str, ...] = ()
    gateway: IPv4Address | None = None
    requested_ip: str | None = None
    published: tuple[PortBinding, ...] | None = None
    """The container's ports as the driver programmed them on this endpoint (the one
    holding the default route, if its driver publishes); None on any other."""
    needs_gateway_service: bool = False
    """Its join gave no gateway and did not disable the gateway service (a plugin's)."""
    address6: IPv6Interface | None = None
    """Its IPv6 address, on a network with IPv6 enabled."""
    gateway6: IPv6Address | None = None
    requested_ip6: str | None = None


@dataclass
class Attachment:
    """A container's wish to be on a network, kept while it is stopped."""

    network_id: str
    ip: str | None = None
    aliases: tuple[str, ...] = ()
    mac: str | None = None
    """The MAC address asked for (--mac-address), else the driver picks one."""
    links: tuple[str, ...] = ()
    """NAME[:ALIAS] names the container alone resolves here (a user-defined network)."""
    ip6: str | None = None
    """The IPv6 address asked for (--ip6)."""


@dataclass
class Container:
    id: str
    name: str
    hostname: str
    command: list[str]
    created: str
    attachments: dict[str, Attachment] = field(default_factory=dict)
    sandbox: SandboxHandle | None = None
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    running: bool = False
    exit_code: int = 0
    next_ifindex: int = 0
    gateway_network: str | None = None
    image: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    env: list[str] = field(default_factory=list)
    started_at: str = "0001-01-01T00:00:00Z"
    finished_at: str = "0001-01-01T00:00:00Z"
    pid: int = 0
    dns: DnsConfig = field(default_factory=DnsConfig)
    """--dns, --dns-search, --dns-option, --add-host, --domainname (cnm/etcfiles)."""
    ports: PortOptions = field(default_factory=PortOptions)
    """-p, -P and --expose, as the create request asked."""
    sysctls: dict[str, str] = field(default_factory=dict)
    """--sysctl net.* settings, written in its network namespace as it starts."""
    links: dict[str, str] = field(default_factory=dict)
    """Legacy links on the default bridge (--link NAME:ALIAS): alias -> linked container ID."""
    task_id: str = ""
    """The swarm task this container runs (it may join networks that are not attachable)."""
    paused: bool = False
    """Its processes are frozen (`docker pause`; cnm/containerops.py)."""
    hidden: bool = False
    """A sandbox of the engine's own (a load-balancing one): in no listing, no process."""
    gateway_bridge: bool = True
    """Whether it may get a docker_gwbridge endpoint (lb-NET sandboxes never do)."""
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    """-w, -v, --tmpfs, --user, capabilities, --read-only, TTY and stdin (cnm/runtimespec)."""

    @property
    def short_id(self) -> str:
        return self.id[:12]
