"""Bridge networks and their endpoints on one Docker host."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from typing import ClassVar

from emulator.drivers import base as driverapi
from emulator.drivers.bookkeeping import Endpoint, Network, NetworkBookkeeping
from emulator.drivers.bridge.options import BridgeOptions, parse_options
from emulator.drivers.hostfirewall import BridgeRules, FirewallPart, HostFirewall, PublishedPort
from emulator.drivers.portallocator import ANY, DEFAULT_RANGE, PortAllocator
from emulator.drivers.portmapping import PortBinding
from emulator.errdefs import Forbidden, NotImplementedByEmulator
from emulator.fabric.base import HostFabric, Plug
from emulator.ids import random_mac
from emulator.ipam.prefixindex import PrefixIndex


@dataclass(kw_only=True)
class _Endpoint(Endpoint):
    host_ifname: str
    published: tuple[PortBinding, ...] = ()


@dataclass(kw_only=True)
class _Network(Network[_Endpoint]):
    options: BridgeOptions
    subnet: IPv4Network | None
    route_localnet: bool = False
    """Set on the bridge once a port is published on it (for 127.0.0.1 to reach it)."""

    def rules(self) -> BridgeRules:
        return BridgeRules(self.options.bridge_name, self.subnet, self.spec.internal,
                           self.options.enable_icc, self.options.enable_masquerade)


def _firewall_key(net_id: str) -> str:
    return f"bridge network {net_id}"


def _ports_key(ep_id: str) -> str:
    return f"bridge ports {ep_id}"


def local_port_range(fabric: HostFabric) -> tuple[int, int]:
    """The kernel's local port range in the host's namespace, as dockerd reads it for
    ephemeral host ports (its fallback if unreadable)."""
    try:
        low, high = (int(v) for v in fabric.read_sysctl("net.ipv4.ip_local_port_range").split())
    except (OSError, ValueError, KeyError):
        return DEFAULT_RANGE
    return low, high


CAPABILITY = driverapi.Capability(scope=driverapi.LOCAL, connectivity_scope=driverapi.LOCAL)


def register(registrar: driverapi.Registrar) -> None:
    registrar.register("bridge", lambda ctx: BridgeDriver(ctx.fabric, ctx.firewall), CAPABILITY)


class BridgeDriver(NetworkBookkeeping[_Network, _Endpoint]):
    name: ClassVar[str] = "bridge"

    def __init__(self, fabric: HostFabric, firewall: HostFirewall | None = None) -> None:
        super().__init__(fabric)
        self._firewall = firewall or HostFirewall(fabric)
        self._bridge_names: Counter[str] = Counter()
        self._subnets = PrefixIndex()
        """Of the networks: what a new one may conflict with, known without a scan."""
        self._ports: PortAllocator | None = None
        """The host's ports, made on first use (the kernel's range read then)."""

    def validate_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        options = parse_options(net.options, "br-" + net.id[:12])
        if not options.enable_icc and not self._fabric.bridge_netfilter:
            raise NotImplementedByEmulator(
                "com.docker.network.bridge.enable_icc=false needs bridge netfilter "
                "(br_netfilter), which this kernel lacks"
            )
        if not (self._bridge_names[options.bridge_name]
                or (ipam.subnet is not None and self._subnets.overlaps(ipam.subnet))):
            return
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

    def create_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        self.validate_network(net, ipam)
        options = parse_options(net.options, "br-" + net.id[:12])
        network = _Network(net, ipam.gateway, options=options, subnet=ipam.subnet)
        address = None
        if ipam.gateway is not None and ipam.subnet is not None and not options.inhibit_ipv4:
            address = IPv4Interface(f"{ipam.gateway}/{ipam.subnet.prefixlen}")
        self._fabric.create_bridge(options.bridge_name, address, options.mtu)
        self._networks[net.id] = network
        self._index(network, 1)
        try:
            self._firewall.contribute(_firewall_key(net.id), FirewallPart((network.rules(),)))
        except Exception:
            del self._networks[net.id]
            self._index(network, -1)
            self._fabric.delete_link(options.bridge_name)
            raise

    def _index(self, network: _Network, change: int) -> None:
        self._bridge_names[network.options.bridge_name] += change
        if network.subnet is not None:
            (self._subnets.add if change > 0 else self._subnets.remove)(network.subnet)

    def _retire(self, network: _Network) -> None:
        self._index(network, -1)
        self._fabric.delete_link(network.options.bridge_name)
        self._firewall.withdraw(_firewall_key(network.spec.id))

    def bridge_name(self, net_id: str) -> str:
        return self._net(net_id).options.bridge_name

    def _new_endpoint(self, network: _Network, ep: driverapi.EndpointSpec) -> _Endpoint:
        host_ifname = "veth" + secrets.token_hex(4)[:7]
        return _Endpoint(ep.id, ep.mac or random_mac(), ep.address, host_ifname=host_ifname)

    def join(self, net_id: str, ep_id: str, sandbox: driverapi.SandboxRef) -> driverapi.JoinInfo:
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        gateway = self._gateway(network, sandbox)
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
        return driverapi.JoinInfo(ifname=sandbox.ifname, gateway=gateway)

    # -- published ports (ProgramExternalConnectivity) -----------------------------

    def publish(self, net_id: str, ep_id: str,
                bindings: tuple[PortBinding, ...]) -> tuple[PortBinding, ...]:
        """Take a host port for each binding and DNAT it to the endpoint, all or none;
        an internal network publishes nothing, as libnetwork skips it."""
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        self._unpublish(ep)
        if network.spec.internal or ep.address is None or not bindings:
            return ()
        if self._ports is None:
            self._ports = PortAllocator(local_port_range(self._fabric))
        allocator = self._ports
        programmed: list[PortBinding] = []
        try:
            for wanted in sorted(bindings, key=PortBinding.sort_key):
                host_ip = wanted.host_ip or ANY
                port = allocator.request(host_ip, wanted.proto, wanted.host_port,
                                         wanted.host_port_end or wanted.host_port)
                programmed.append(PortBinding(wanted.proto, wanted.port, host_ip, port, port))
            bridge = network.options.bridge_name
            if not network.route_localnet:
                self._fabric.write_sysctl(f"net/ipv4/conf/{bridge}/route_localnet", "1")
                network.route_localnet = True
            rules = tuple(PublishedPort(bridge, b.proto, None if b.host_ip == ANY else b.host_ip,
                                        b.host_port, ep.address.ip, b.port) for b in programmed)
            self._firewall.contribute(_ports_key(ep_id), FirewallPart(published=rules))
            if ep.sandbox is not None:
                # docker-proxy lets a container reach its own published port; without
                # the proxy the DNATed frame must go back out by the port it came in by
                self._fabric.set_hairpin(ep.host_ifname, True)
        except Exception:
            for done in programmed:
                allocator.release(done.host_ip or ANY, done.proto, done.host_port)
            raise
        ep.published = tuple(programmed)
        return ep.published

    def unpublish(self, net_id: str, ep_id: str) -> None:
        network = self._networks.get(net_id)
        if network is not None and ep_id in network.endpoints:
            self._unpublish(network.endpoints[ep_id])

    def _unpublish(self, ep: _Endpoint) -> None:
        if not ep.published:
            return
        self._firewall.withdraw(_ports_key(ep.id))
        for binding in ep.published:
            if self._ports is not None:
                self._ports.release(binding.host_ip or ANY, binding.proto, binding.host_port)
        ep.published = ()

    def _release(self, network: _Network, ep: _Endpoint) -> None:
        """Delete the endpoint's veth, or await it when its sandbox already died with it."""
        self._unpublish(ep)
        if ep.sandbox is None:
            return
        if self._fabric.sandbox_alive(ep.sandbox):
            self._fabric.delete_link(ep.host_ifname)
        else:
            self._fabric.forget_link(ep.host_ifname)
        ep.sandbox = None
        ep.ifname = None

    def check(self, net_id: str, ep_id: str) -> list[str]:
        """Without its bridge a network has nothing else to check; the veth of a
        joined endpoint must be a port of the bridge."""
        network = self._networks.get(net_id)
        if network is None:
            return super().check(net_id, ep_id)
        name = network.options.bridge_name
        bridge = self._fabric.link_info(name)
        if bridge is None:
            return [f"bridge {name} is missing"]
        problems = [] if bridge["up"] else [f"bridge {name} is down"]
        ep = network.endpoints.get(ep_id)
        if ep is not None and ep.sandbox is not None:
            veth = self._fabric.link_info(ep.host_ifname)
            if veth is None:
                problems.append(f"veth {ep.host_ifname} is missing")
            elif veth["master"] != bridge["index"]:
                problems.append(f"veth {ep.host_ifname} is not a port of {name}")
        return problems + super().check(net_id, ep_id)
