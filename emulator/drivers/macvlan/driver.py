"""Macvlan networks on one Docker host: each endpoint a MACVLAN of a host NIC.

The MACVLAN is created on the parent (an emulated NIC of the emulated host, e.g. its
LAN NIC eth1) and born inside the container's sandbox. As on real Linux, the host
itself cannot reach its own macvlan containers through that parent. Checks and
messages follow dockerd 28's macvlan driver; what this kernel cannot build (dummy
parents, 802.1q sub-interfaces) is refused with a message naming what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from emulator.errdefs import DockerError, NotImplementedByEmulator
from emulator.fabric.base import MacvlanPlug
from emulator.ids import random_mac


@dataclass(kw_only=True)
class _Network(Network[Endpoint]):
    options: MacvlanOptions


CAPABILITY = driverapi.Capability(
    scope=driverapi.LOCAL, connectivity_scope=driverapi.GLOBAL, released_before_sandbox=True,
    limits={
        driverapi.MTU_OPTION: "Docker's macvlan takes its parent's MTU: "
                              "com.docker.network.driver.mtu is accepted and not honoured",
        driverapi.L2_SEGMENT: "macvlan networks on one parent share the parent's LAN segment; "
                              "Docker separates them by subnet only (802.1q sub-interfaces are "
                              "missing on this kernel)",
    })


def register(registrar: driverapi.Registrar) -> None:
    registrar.register("macvlan", lambda ctx: MacvlanDriver(ctx.fabric), CAPABILITY)


class MacvlanDriver(NetworkBookkeeping[_Network, Endpoint]):
    name: ClassVar[str] = "macvlan"

    def validate_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
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
        self._networks[net.id] = _Network(net, ipam.gateway, options=parse_options(net.options))

    def _new_endpoint(self, network: _Network, ep: driverapi.EndpointSpec) -> Endpoint:
        return Endpoint(ep.id, ep.mac or random_mac(), ep.address)

    def join(self, net_id: str, ep_id: str, sandbox: driverapi.SandboxRef) -> driverapi.JoinInfo:
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        parent = network.options.parent
        if self._fabric.link_info(parent) is None:
            raise DockerError(
                f"the requested parent interface {parent} was not found on the Docker host")
        gateway = self._gateway(network, sandbox)
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
        return driverapi.JoinInfo(ifname=sandbox.ifname, gateway=gateway)

    def _release(self, network: _Network, ep: Endpoint) -> None:
        """Delete the endpoint's MACVLAN; one whose sandbox died went with it."""
        if ep.sandbox is not None and ep.ifname is not None:
            self._fabric.unplug(ep.sandbox, ep.ifname)
        ep.sandbox = None
        ep.ifname = None

    def _check_network(self, network: _Network) -> list[str]:
        if self._fabric.link_info(network.options.parent) is None:
            return [f"parent interface {network.options.parent} is missing"]
        return []
