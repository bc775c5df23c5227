"""Bridge networks and their endpoints on one Docker host."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import ClassVar

from emulator.drivers.base import (
    LOCAL,
    Capability,
    EndpointInfo,
    EndpointSpec,
    IPAMData,
    JoinInfo,
    NetworkSpec,
    Registrar,
    SandboxRef,
)
from emulator.drivers.bridge.options import BridgeOptions, parse_options
from emulator.drivers.hostfirewall import BridgeRules, FirewallPart, HostFirewall
from emulator.errdefs import Forbidden, NotFound, NotImplementedByEmulator
from emulator.fabric.base import HostFabric, Plug, SandboxHandle
from emulator.ids import random_mac


@dataclass
class _Endpoint:
    id: str
    host_ifname: str
    mac: str
    address: IPv4Interface | None
    sandbox: SandboxHandle | None = None
    ifname: str | None = None


@dataclass
class _Network:
    spec: NetworkSpec
    options: BridgeOptions
    subnet: IPv4Network | None
    gateway: IPv4Address | None
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)

    def rules(self) -> BridgeRules:
        return BridgeRules(self.options.bridge_name, self.subnet, self.spec.internal,
                           self.options.enable_icc, self.options.enable_masquerade)


CAPABILITY = Capability(scope=LOCAL, connectivity_scope=LOCAL)


def register(registrar: Registrar) -> None:
    registrar.register("bridge", lambda ctx: BridgeDriver(ctx.fabric, ctx.firewall), CAPABILITY)


class BridgeDriver:
    name: ClassVar[str] = "bridge"

    def __init__(self, fabric: HostFabric, firewall: HostFirewall | None = None) -> None:
        self._fabric = fabric
        self._firewall = firewall or HostFirewall(fabric)
        self._networks: dict[str, _Network] = {}

    def _net(self, net_id: str) -> _Network:
        try:
            return self._networks[net_id]
        except KeyError:
            raise NotFound(f"network {net_id} not found") from None

    def validate_network(self, net: NetworkSpec, ipam: IPAMData) -> None:
        options = parse_options(net.options, "br-" + net.id[:12])
        if not options.enable_icc and not self._fabric.bridge_netfilter:
            raise NotImplementedByEmulator(
                "com.docker.network.bridge.enable_icc=false needs bridge netfilter "
                "(br_netfilter), which this kernel lacks"
            )
        for other in self._networks.values():
            reason = None
            if other.options.bridge_name == options.bridge_name:
                reason = "networks have same bridge name"
            elif ipam.subnet and other.subnet and ipam.subnet.overlaps(other.subnet):
                reason = "networks have overlapping IPv4"
            if reason:
                raise Forbidden(
                    f"cannot create network {net.id} ({options.bridge_name}): conflicts with "
                    f"network {other.spec.id} ({other.options.bridge_name}): {reason}"
                )

    def create_network(self, net: NetworkSpec, ipam: IPAMData) -> None:
        self.validate_network(net, ipam)
        options = parse_options(net.options, "br-" + net.id[:12])
        network = _Network(net, options, ipam.subnet, ipam.gateway)
        address = None
        if ipam.gateway is not None and ipam.subnet is not None and not options.inhibit_ipv4:
            address = IPv4Interface(f"{ipam.gateway}/{ipam.subnet.prefixlen}")
        self._fabric.create_bridge(options.bridge_name, address, options.mtu)
        self._networks[net.id] = network
        try:
            self._apply_firewall()
        except Exception:
            del self._networks[net.id]
            self._fabric.delete_link(options.bridge_name)
            raise

    def delete_network(self, net_id: str) -> None:
        network = self._networks.pop(net_id, None)
        if network is None:
            return
        for ep in list(network.endpoints.values()):
            self._release_veth(ep)
        self._fabric.delete_link(network.options.bridge_name)
        self._apply_firewall()

    def network_options(self, net_id: str) -> dict[str, str]:
        return dict(self._net(net_id).spec.options)

    def bridge_name(self, net_id: str) -> str:
        return self._net(net_id).options.bridge_name

    def _apply_firewall(self) -> None:
        self._firewall.contribute(self.name, FirewallPart(
            tuple(n.rules() for n in self._networks.values())))

    def create_endpoint(self, net_id: str, ep: EndpointSpec) -> EndpointInfo:
        network = self._net(net_id)
        host_ifname = "veth" + secrets.token_hex(4)[:7]
        mac = ep.mac or random_mac()
        network.endpoints[ep.id] = _Endpoint(ep.id, host_ifname, mac, ep.address)
        return EndpointInfo(mac=mac, address=ep.address)

    def delete_endpoint(self, net_id: str, ep_id: str) -> None:
        network = self._networks.get(net_id)
        if network is None:
            return
        ep = network.endpoints.pop(ep_id, None)
        if ep is not None:
            self._release_veth(ep)

    def join(self, net_id: str, ep_id: str, sandbox: SandboxRef) -> JoinInfo:
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        gateway = None
        if sandbox.wants_gateway and not network.spec.internal:
            gateway = network.gateway
        try:
            self._fabric.plug(
                sandbox.handle,
                Plug(ep.host_ifname, network.options.bridge_name, sandbox.ifname, ep.address,
                     ep.mac, network.options.mtu, gateway),
            )
        except Exception:
            self._fabric.delete_link(ep.host_ifname)
            raise
        ep.sandbox = sandbox.handle
        ep.ifname = sandbox.ifname
        return JoinInfo(ifname=sandbox.ifname, gateway=gateway)

    def leave(self, net_id: str, ep_id: str) -> None:
        network = self._networks.get(net_id)
        if network is not None and ep_id in network.endpoints:
            self._release_veth(network.endpoints[ep_id])

    def _release_veth(self, ep: _Endpoint) -> None:
        """Delete the endpoint's veth, or await it when its sandbox already died with it."""
        if ep.sandbox is None:
            return
        if self._fabric.sandbox_alive(ep.sandbox):
            self._fabric.delete_link(ep.host_ifname)
        else:
            self._fabric.forget_link(ep.host_ifname)
        ep.sandbox = None
        ep.ifname = None

    def check(self, net_id: str, ep_id: str) -> list[str]:
        problems: list[str] = []
        network = self._networks.get(net_id)
        if network is None:
            return [f"network {net_id} is unknown to the bridge driver"]
        bridge = self._fabric.link_info(network.options.bridge_name)
        if bridge is None:
            return [f"bridge {network.options.bridge_name} is missing"]
        if not bridge["up"]:
            problems.append(f"bridge {network.options.bridge_name} is down")
        ep = network.endpoints.get(ep_id)
        if ep is None:
            return problems + [f"endpoint {ep_id} is unknown to the bridge driver"]
        if ep.sandbox is None:
            return problems
        veth = self._fabric.link_info(ep.host_ifname)
        if veth is None:
            problems.append(f"veth {ep.host_ifname} is missing")
        elif veth["master"] != bridge["index"]:
            problems.append(f"veth {ep.host_ifname} is not a port of {network.options.bridge_name}")
        if ep.ifname not in self._fabric.sandbox_links(ep.sandbox):
            problems.append(f"interface {ep.ifname} is missing from the sandbox")
        return problems
