"""Macvlan networks on one Docker host: each endpoint a MACVLAN of a host NIC.

The MACVLAN is created on the parent (an emulated NIC of the emulated host, e.g. its
LAN NIC eth1) and born inside the container's sandbox. As on real Linux, the host
itself cannot reach its own macvlan containers through that parent. Checks and
messages follow dockerd 28's macvlan driver; what this kernel cannot build (dummy
parents, 802.1q sub-interfaces) is refused with a message naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from typing import ClassVar

from emulator.drivers.base import (
    GLOBAL,
    L2_SEGMENT,
    LOCAL,
    MTU_OPTION,
    Capability,
    EndpointInfo,
    EndpointSpec,
    IPAMData,
    JoinInfo,
    NetworkSpec,
    Registrar,
    SandboxRef,
)
from emulator.drivers.macvlan.options import (
    MAX_VLAN,
    MIN_VLAN,
    MacvlanOptions,
    parse_options,
    parse_vlan,
)
from emulator.errdefs import DockerError, NotFound, NotImplementedByEmulator
from emulator.fabric.base import HostFabric, MacvlanPlug, SandboxHandle
from emulator.ids import random_mac


@dataclass
class _Endpoint:
    id: str
    mac: str
    address: IPv4Interface | None
    sandbox: SandboxHandle | None = None
    ifname: str | None = None


@dataclass
class _Network:
    spec: NetworkSpec
    options: MacvlanOptions
    gateway: IPv4Address | None
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)


CAPABILITY = Capability(
    scope=LOCAL, connectivity_scope=GLOBAL, released_before_sandbox=True,
    limits={
        MTU_OPTION: "Docker's macvlan takes its parent's MTU: com.docker.network.driver.mtu "
                    "is accepted and not honoured",
        L2_SEGMENT: "macvlan networks on one parent share the parent's LAN segment; Docker "
                    "separates them by subnet only (802.1q sub-interfaces are missing on "
                    "this kernel)",
    })


def register(registrar: Registrar) -> None:
    registrar.register("macvlan", lambda ctx: MacvlanDriver(ctx.fabric), CAPABILITY)


class MacvlanDriver:
    name: ClassVar[str] = "macvlan"

    def __init__(self, fabric: HostFabric) -> None:
        self._fabric = fabric
        self._networks: dict[str, _Network] = {}

    def _net(self, net_id: str) -> _Network:
        try:
            return self._networks[net_id]
        except KeyError:
            raise NotFound(f"network {net_id} not found") from None

    def validate_network(self, net: NetworkSpec, ipam: IPAMData) -> None:
        options = parse_options(net.options)
        parent = options.parent
        if not parent:
            raise NotImplementedByEmulator(
                "a macvlan network without -o parent gets a dummy parent interface "
                f"(dm-{net.id[:12]}), and this kernel lacks dummy links: name a NIC of the "
                "host, e.g. -o parent=eth1")
        for other in self._networks.values():
            if other.options.parent != parent:
                continue
            if options.mode == "passthru":
                raise DockerError(f"cannot use mode passthru, macvlan network {other.spec.id} "
                                  f"is already using parent interface {parent}")
            if other.options.mode == "passthru":
                raise DockerError(f"macvlan network {other.spec.id} is already using parent "
                                  f"interface {parent} in mode passthru")
        if self._fabric.link_info(parent) is None:
            self._refuse_missing_parent(parent)

    def _refuse_missing_parent(self, parent: str) -> None:
        """Docker would create a missing eth0.10-style parent as an 802.1q VLAN link."""
        if "." not in parent:
            raise DockerError(
                f"invalid subinterface vlan name {parent}, example formatting is eth0.10")
        base, vlan = parse_vlan(parent)
        if self._fabric.link_info(base) is None:
            raise DockerError(f"-o parent interface was not found on the host: {base}")
        if not MIN_VLAN <= vlan <= MAX_VLAN:
            raise DockerError(f"vlan id must be between 1-4094, received: {vlan}")
        raise NotImplementedByEmulator(
            f"failed to create {parent} vlan link: 802.1q VLAN sub-interfaces need the "
            "kernel's 8021q support, which this kernel lacks")

    def create_network(self, net: NetworkSpec, ipam: IPAMData) -> None:
        self.validate_network(net, ipam)
        self._networks[net.id] = _Network(net, parse_options(net.options), ipam.gateway)

    def delete_network(self, net_id: str) -> None:
        network = self._networks.pop(net_id, None)
        if network is None:
            return
        for ep in network.endpoints.values():
            self._release(ep)

    def network_options(self, net_id: str) -> dict[str, str]:
        return dict(self._net(net_id).spec.options)

    def create_endpoint(self, net_id: str, ep: EndpointSpec) -> EndpointInfo:
        network = self._net(net_id)
        mac = ep.mac or random_mac()
        network.endpoints[ep.id] = _Endpoint(ep.id, mac, ep.address)
        return EndpointInfo(mac=mac, address=ep.address)

    def delete_endpoint(self, net_id: str, ep_id: str) -> None:
        network = self._networks.get(net_id)
        if network is None:
            return
        ep = network.endpoints.pop(ep_id, None)
        if ep is not None:
            self._release(ep)

    def join(self, net_id: str, ep_id: str, sandbox: SandboxRef) -> JoinInfo:
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        parent = network.options.parent
        if self._fabric.link_info(parent) is None:
            raise DockerError(
                f"the requested parent interface {parent} was not found on the Docker host")
        gateway = None
        if sandbox.wants_gateway and not network.spec.internal:
            gateway = network.gateway
        plug = MacvlanPlug(parent, network.options.mode, sandbox.ifname, ep.address, ep.mac,
                           gateway=gateway)
        try:
            self._fabric.plug_macvlan(sandbox.handle, plug)
        except OSError as exc:
            reason = (exc.strerror or str(exc))
            raise DockerError(
                f"failed to create the macvlan port: {reason[:1].lower()}{reason[1:]}"
            ) from None
        ep.sandbox = sandbox.handle
        ep.ifname = sandbox.ifname
        return JoinInfo(ifname=sandbox.ifname, gateway=gateway)

    def leave(self, net_id: str, ep_id: str) -> None:
        network = self._networks.get(net_id)
        if network is not None and ep_id in network.endpoints:
            self._release(network.endpoints[ep_id])

    def _release(self, ep: _Endpoint) -> None:
        """Delete the endpoint's MACVLAN; one whose sandbox died went with it."""
        if ep.sandbox is not None and ep.ifname is not None:
            self._fabric.unplug(ep.sandbox, ep.ifname)
        ep.sandbox = None
        ep.ifname = None

    def check(self, net_id: str, ep_id: str) -> list[str]:
        network = self._networks.get(net_id)
        if network is None:
            return [f"network {net_id} is unknown to the macvlan driver"]
        problems = []
        if self._fabric.link_info(network.options.parent) is None:
            problems.append(f"parent interface {network.options.parent} is missing")
        ep = network.endpoints.get(ep_id)
        if ep is None:
            return problems + [f"endpoint {ep_id} is unknown to the macvlan driver"]
        if ep.sandbox is not None and ep.ifname not in self._fabric.sandbox_links(ep.sandbox):
            problems.append(f"interface {ep.ifname} is missing from the sandbox")
        return problems
