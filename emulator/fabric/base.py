"""The fabric contract: every kernel operation a driver or the engine may ask for.

Drivers and the engine talk only to this interface. `KernelFabric` carries it
out on the real kernel; `FakeFabric` records it for unit tests.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface
from pathlib import Path
from typing import Protocol

from emulator.fabric.containerroot import RootSpec
from emulator.fabric.dnssockets import ResolverSockets
from emulator.fabric.identity import Identity
from emulator.fabric.netns import Namespace
from emulator.fabric.processes import ProcessId

CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The PATH of a container's processes unless they are given one (the images' own)."""


@dataclass
class SandboxHandle:
    """A container's network sandbox: its namespace is that of `process`."""

    key: str
    process: ProcessId | None
    shares_host: bool = False
    held: Namespace | None = None
    destroyed: bool = False
    private_mounts: bool = False
    """Its process runs in a mount namespace of its own (its /etc files bind-mounted)."""
    rooted: bool = False
    """Its process runs in a sandbox of its own: root, mount and PID namespaces
    (fabric/containerroot); execs join them."""
    console: int | None = None
    """The master side of its process's terminal (a TTY container), for its owner to take."""
    stdin: int | None = None
    """The write end of its process's stdin (an -i container), for its owner to take."""


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str = ""


@dataclass(frozen=True)
class Plug:
    """One veth from a bridge on the host into a sandbox; IPv6 is on for its sandbox
    end only with `address6` (the kernel adds a link-local then)."""

    host_ifname: str
    bridge: str
    ifname: str
    address: IPv4Interface | None
    mac: str
    mtu: int
    gateway: IPv4Address | None = None
    extra_routes: tuple[str, ...] = field(default=())
    address6: IPv6Interface | None = None
    gateway6: IPv6Address | None = None


@dataclass(frozen=True)
class MacvlanPlug:
    """One MACVLAN of a host NIC (`parent`), moved into a sandbox as `ifname`."""

    parent: str
    mode: str
    ifname: str
    address: IPv4Interface | None
    mac: str | None
    mtu: int | None = None
    gateway: IPv4Address | None = None
    address6: IPv6Interface | None = None
    gateway6: IPv6Address | None = None


@dataclass(frozen=True)
class Adoption:
    """An interface a plugin made in the host's namespace, to move into a sandbox."""

    src_name: str
    ifname: str
    address: IPv4Interface | None
    mac: str | None
    gateway: IPv4Address | None = None
    routes: tuple[tuple[str, str | None], ...] = ()  # (destination, next hop or None)
    """Of either family; an IPv6 one needs `address6` (IPv6 is on only with it)."""
    address6: IPv6Interface | None = None
    gateway6: IPv6Address | None = None


@dataclass(frozen=True)
class VirtualServer:
    """A service's virtual IP balanced over its tasks' addresses, every protocol and
    port, as Docker's per-VIP IPVS service (a firewall mark) does; no backends: the VIP
    answers nothing."""

    vip: IPv4Address
    backends: tuple[IPv4Address, ...]


@dataclass(frozen=True)
class IngressPort:
    """A port of the routing mesh inside a node's ingress sandbox: connections to
    `published` are balanced over the tasks' ingress addresses at `target`."""

    protocol: str
    published: int
    target: int
    backends: tuple[IPv4Address, ...]


@dataclass(frozen=True)
class IngressRules:
    """What an ingress sandbox forwards, and the address it rewrites sources to (its
    own on the ingress network, as Docker's SNAT there does) within `subnet`."""

    source: IPv4Address
    subnet: IPv4Network
    ports: tuple[IngressPort, ...]


@dataclass(frozen=True)
class TaskIngress:
    """A task's side of the routing mesh (Docker's redirect rules in the task): on its
    ingress address, each published port is redirected to its target port, and nothing
    else of TCP, UDP or SCTP gets in or out there. `ports`: (protocol, published, target)."""

    address: IPv4Address
    ports: tuple[tuple[str, int, int], ...]


class HostFabric(Protocol):
    """Kernel operations inside one emulated Docker host."""

    host: str
    bridge_netfilter: bool

    def create_bridge(self, name: str, address: IPv4Interface | None, mtu: int,
                      address6: IPv6Interface | None = None) -> None:
        """A bridge, up, with the gateway addresses (IPv6 on it only with `address6`,
        added without DAD; the host then routes IPv6)."""
        ...

    def delete_link(self, name: str) -> None: ...

    def link_info(self, name: str) -> dict[str, object] | None: ...

    def create_sandbox(self, key: str, hostname: str, shares_host: bool) -> SandboxHandle: ...

    def start_process(self, sandbox: SandboxHandle, command: list[str], hostname: str,
                      env: dict[str, str] | None = None,
                      files: Mapping[str, Path] | None = None,
                      root: RootSpec | None = None, open_stdin: bool = False) -> None:
        """Start the container's process; `files` (path in the container -> file) are
        bind-mounted in a mount namespace of its own; with `root`, in a sandbox of its
        own (its root filesystem, PID namespace, user and capabilities). A rooted process
        gets a terminal with `root.tty` (its master left in `sandbox.console`), else
        with `open_stdin` a stdin pipe (its write end left in `sandbox.stdin`)."""
        ...

    def sandbox_exit_code(self, sandbox: SandboxHandle) -> int | None: ...

    def sandbox_ended(self, sandbox: SandboxHandle) -> bool:
        """Whether the sandbox's process has ended, without collecting its exit status
        (sandbox_exit_code does that)."""
        ...

    def destroy_sandbox(self, sandbox: SandboxHandle, graceful: bool = True) -> None: ...

    def forget_link(self, name: str) -> None: ...

    def settle(self, timeout: float = 10.0) -> None: ...

    def sandbox_alive(self, sandbox: SandboxHandle) -> bool: ...

    def plug(self, sandbox: SandboxHandle, plug: Plug) -> None: ...

    def plug_macvlan(self, sandbox: SandboxHandle, plug: MacvlanPlug) -> None: ...

    def unplug(self, sandbox: SandboxHandle, ifname: str) -> None: ...

    def create_overlay_sandbox(self, key: str, bridge: str, address: IPv4Interface,
                               mtu: int) -> SandboxHandle: ...

    def add_vxlan(self, sandbox: SandboxHandle, name: str, vni: int, port: int, mtu: int,
                  bridge: str, ipv6: bool = False) -> None: ...

    def program_peer(self, sandbox: SandboxHandle, vxlan: str, address: IPv4Address,
                     mac: str, vtep: IPv4Address | IPv6Address, add: bool) -> None: ...

    def plug_from(self, outer: SandboxHandle, sandbox: SandboxHandle, plug: Plug) -> None: ...

    def adopt_link(self, sandbox: SandboxHandle, adoption: Adoption) -> str: ...

    def sandbox_key(self, sandbox: SandboxHandle) -> str:
        """A path that opens the sandbox's network namespace (a plugin's SandboxKey)."""
        ...

    def release_link(self, sandbox: SandboxHandle, ifname: str, host_name: str) -> bool:
        """Move the sandbox's `ifname` back to the host as `host_name`, down."""
        ...

    def set_default_route(self, sandbox: SandboxHandle,
                          gateway: IPv4Address | IPv6Address) -> None:
        """Replace the sandbox's default route of the gateway's family."""
        ...

    def sandbox_links(self, sandbox: SandboxHandle) -> list[str]: ...

    def set_firewall(self, ruleset: str) -> None:
        """Replace the host's firewall tables with `ruleset` in one transaction (an empty
        one removes them)."""
        ...

    def update_firewall(self, transaction: str) -> None:
        """Apply nft statements to the loaded tables, as one transaction."""
        ...

    def set_hairpin(self, ifname: str, on: bool) -> None:
        """Let a bridge port of the host send frames back out by the port they came in."""
        ...

    def read_sysctl(self, name: str) -> str:
        """A sysctl of the host's namespace ("net.ipv4.ip_local_port_range", or with
        slashes: "net/ipv4/conf/br.0/route_localnet"), as read."""
        ...

    def write_sysctl(self, name: str, value: str) -> None:
        """Set a sysctl of the host's namespace (one of its bridge's, say)."""
        ...

    def abandon(self) -> None:
        """The host's namespace is about to end, taking its links and firewall with it:
        from now on they are not deleted one by one, nor awaited."""
        ...

    def exec(self, sandbox: SandboxHandle | None, argv: list[str],
             timeout: float = 30.0, env: Mapping[str, str] | None = None,
             identity: Identity | None = None) -> ExecResult:
        """Run argv in the sandbox (the host for None); `env` adds to (or sets PATH of)
        the default environment; `identity`: user, capabilities and working directory
        in a rooted sandbox (None: root with every capability, at /)."""
        ...

    def open_resolver(self, sandbox: SandboxHandle) -> ResolverSockets | None:
        """The embedded DNS's sockets on 127.0.0.11 in the sandbox, with Docker's NAT
        rules for port 53 there; None where there is no kernel to listen in."""
        ...

    def program_load_balancer(self, sandbox: SandboxHandle,
                              servers: tuple[VirtualServer, ...],
                              ingress: IngressRules | None = None) -> None:
        """Make the sandbox's service load balancing exactly this (an empty tuple and
        no ingress: none left): DNAT of each VIP to one of its backends for connections
        made in the sandbox, and for an ingress sandbox, of its published ports for
        connections routed through it, with their source rewritten."""
        ...

    def program_task_ingress(self, sandbox: SandboxHandle, rules: TaskIngress) -> None:
        """Load a task's routing-mesh rules in its sandbox (once, as it starts)."""
        ...

    def upstream_socket(self, sandbox: SandboxHandle | None, server: str, port: int,
                        tcp: bool) -> socket.socket:
        """A non-blocking socket towards an upstream DNS server, made in the sandbox's
        namespace (the host's for None): connected (UDP) or connecting (TCP)."""
        ...
