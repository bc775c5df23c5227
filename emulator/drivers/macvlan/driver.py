"""Macvlan networks on one Docker host: each endpoint a MACVLAN of a host NIC.

The MACVLAN is created on the parent (an emulated NIC of the emulated host, e.g. its
LAN NIC eth1) and born inside the container's sandbox. As on real Linux, the host
itself cannot reach its own macvlan containers through that parent. Checks and
messages follow dockerd 28's macvlan driver; what this kernel cannot build (dummy
parents, 802.1q sub-interfaces) is refused with a message naming what is missing.

IPv6 as Docker 28 gives it (libnetwork/drivers/macvlan, osl/interface_linux.go): a
static address from the IPAM on the MACVLAN, added without duplicate address
detection (IFA_F_NODAD), and the subnet's gateway as the IPv6 default route unless
the network is internal. Docker leaves the interface's accept_ra and autoconf at
the kernel's defaults (1, 1), so a router advertising on the parent's LAN also
gives the container SLAAC addresses and a default route of its own, beside the
static address. An IPv4-only network's MACVLAN has IPv6 disabled (no link-local
address, no SLAAC: the CVE-2024-32473 fix, Docker 26.0.2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv6Address, IPv6Interface
from typing import ClassVar

from emulator.drivers import base as driverapi
from emulator.drivers.bookkeeping import Endpoint, Network, NetworkBookkeeping
from emulator.drivers.macvlan.options import (
    MAX_VLAN,
    MIN_VLAN,
    MacvlanOptions,
    parse_options,
    parse_vlan,
)
from emulator.errdefs import DockerError, InvalidParameter, NotImplementedByEmulator
from emulator.fabric.base import MacvlanPlug
from emulator.ids import random_mac


@dataclass
class _Endpoint(Endpoint):
    address6: IPv6Interface | None = None


@dataclass(kw_only=True)
class _Network(Network[_Endpoint]):
    options: MacvlanOptions
    gateway6: IPv6Address | None = None


CAPABILITY = driverapi.Capability(
    scope=driverapi.LOCAL, connectivity_scope=driverapi.GLOBAL, released_before_sandbox=True,
    ipv6=True,
    limits={
        driverapi.MTU_OPTION: "Docker's macvlan takes its parent's MTU: "
                              "com.docker.network.driver.mtu is accepted and not honoured",
        driverapi.L2_SEGMENT: "macvlan networks on one parent share the parent's LAN segment; "
                              "Docker separates them by subnet only (802.1q sub-interfaces are "
                              "missing on this kernel)",
    })


def register(registrar: driverapi.Registrar) -> None:
    registrar.register("macvlan", lambda ctx: MacvlanDriver(ctx.fabric), CAPABILITY)


class MacvlanDriver(NetworkBookkeeping[_Network, _Endpoint]):
    name: ClassVar[str] = "macvlan"

    def validate_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        # Docker's CreateNetwork: a family enabled needs a pool of that family
        if net.enable_ipv4 and ipam.subnet is None:
            raise InvalidParameter("ipv4 pool is empty")
        if net.enable_ipv6 and ipam.subnet6 is None:
            raise InvalidParameter("ipv6 pool is empty")
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

    def create_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        self.validate_network(net, ipam)
        self._networks[net.id] = _Network(
            net, ipam.gateway if net.enable_ipv4 else None,
            options=parse_options(net.options),
            gateway6=ipam.gateway6 if net.enable_ipv6 else None)

    def _new_endpoint(self, network: _Network, ep: driverapi.EndpointSpec) -> _Endpoint:
        address6 = ep.address6 if network.spec.enable_ipv6 else None
        return _Endpoint(ep.id, ep.mac or random_mac(), ep.address, address6=address6)

    def create_endpoint(self, net_id: str, ep: driverapi.EndpointSpec) -> driverapi.EndpointInfo:
        info = super().create_endpoint(net_id, ep)
        return replace(info, address6=self._net(net_id).endpoints[ep.id].address6)

    def join(self, net_id: str, ep_id: str, sandbox: driverapi.SandboxRef) -> driverapi.JoinInfo:
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        parent = network.options.parent
        if self._fabric.link_info(parent) is None:
            raise DockerError(
                f"the requested parent interface {parent} was not found on the Docker host")
        gateway = self._gateway(network, sandbox)
        gateway6 = None
        if ep.address6 is not None and sandbox.wants_gateway and not network.spec.internal:
            gateway6 = network.gateway6
        plug = MacvlanPlug(parent, network.options.mode, sandbox.ifname, ep.address, ep.mac,
                           gateway=gateway, address6=ep.address6, gateway6=gateway6)
        try:
            self._fabric.plug_macvlan(sandbox.handle, plug)
        except OSError as exc:
            reason = (exc.strerror or str(exc))
            raise DockerError(
                f"failed to create the macvlan port: {reason[:1].lower()}{reason[1:]}"
            ) from None
        ep.sandbox = sandbox.handle
        ep.ifname = sandbox.ifname
        return driverapi.JoinInfo(ifname=sandbox.ifname, gateway=gateway, gateway6=gateway6)

    def _release(self, network: _Network, ep: _Endpoint) -> None:
        """Delete the endpoint's MACVLAN; one whose sandbox died went with it."""
        if ep.sandbox is not None and ep.ifname is not None:
            self._fabric.unplug(ep.sandbox, ep.ifname)
        ep.sandbox = None
        ep.ifname = None

    def _check_network(self, network: _Network) -> list[str]:
        if self._fabric.link_info(network.options.parent) is None:
            return [f"parent interface {network.options.parent} is missing"]
        return []
