"""Bridge networks and their endpoints on one Docker host."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import ClassVar

from emulator.drivers import base as driverapi
from emulator.drivers.bookkeeping import Endpoint, Network, NetworkBookkeeping
from emulator.drivers.bridge.options import BridgeOptions, parse_options
from emulator.drivers.hostfirewall import BridgeRules, FirewallPart, HostFirewall, PublishedPort
from emulator.drivers.portallocator import ANY, ANY6, DEFAULT_RANGE, PortAllocator, any_of
from emulator.drivers.portmapping import PortBinding
from emulator.errdefs import DockerError, Forbidden, InvalidParameter, NotImplementedByEmulator
from emulator.fabric.base import HostFabric, Plug
from emulator.ids import random_mac
from emulator.ipam.prefixindex import PrefixIndex


@dataclass(kw_only=True)
class _Endpoint(Endpoint):
    host_ifname: str
    address6: IPv6Interface | None = None
    published: tuple[PortBinding, ...] = ()


@dataclass(kw_only=True)
class _Network(Network[_Endpoint]):
    options: BridgeOptions
    subnet: IPv4Network | None
    subnet6: IPv6Network | None = None
    gateway6: IPv6Address | None = None
    route_localnet: bool = False
    """Set on the bridge once a port is published on it (for 127.0.0.1 to reach it)."""

    def rules(self) -> BridgeRules:
        return BridgeRules(self.options.bridge_name, self.subnet, self.spec.internal,
                           self.options.enable_icc, self.options.enable_masquerade,
                           self.subnet6)


def _firewall_key(net_id: str) -> str:
    return f"bridge network {net_id}"


def _specific(host_ip: IPv4Address | IPv6Address | None) -> IPv4Address | IPv6Address | None:
    """The host address a binding is DNATed from; None for every one (0.0.0.0, [::])."""
    return None if host_ip is None or host_ip == any_of(host_ip) else host_ip


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


CAPABILITY = driverapi.Capability(scope=driverapi.LOCAL, connectivity_scope=driverapi.LOCAL,
                                  ipv6=True)

LINK_LOCAL_64 = IPv6Network("fe80::/64")

BRIDGE_NF_CALL = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
"""What hands bridged IPv4 and IPv6 to the host firewall's forward hook. dockerd turns
them on (loading br_netfilter, which starts both at 1) when it creates a network with
ICC off, and never off. Docker 28 does it also when its userland proxy is disabled; the
emulator stands for the default, proxy on (it plays the proxy's part itself)."""


def validate_ipv6_subnet(gateway: IPv6Address, subnet: IPv6Network) -> None:
    """Docker 28's validateIPv6Subnet, on the bridge's address with its prefix length:
    a multicast subnet, or one overlapping fe80::/64 other than fe80::/64, is refused."""
    shown = f"{gateway}/{subnet.prefixlen}"
    if subnet.is_multicast:
        raise InvalidParameter(f"multicast subnet '{shown}' is not allowed")
    if subnet != LINK_LOCAL_64 and subnet.overlaps(LINK_LOCAL_64):
        raise InvalidParameter(f"'{shown}' clashes with the Link-Local prefix 'fe80::/64'")


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
        self._subnets6: Counter[IPv6Network] = Counter()
        """The networks' IPv6 subnets (few: a scan is enough)."""
        self._ports: PortAllocator | None = None
        """The host's ports, made on first use (the kernel's range read then)."""
        self._bridge_nf_call = False
        """Whether a network with ICC off has turned BRIDGE_NF_CALL on."""

    def validate_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        options = parse_options(net.options, "br-" + net.id[:12])
        if not options.enable_icc and not self._fabric.bridge_netfilter:
            raise NotImplementedByEmulator(
                "com.docker.network.bridge.enable_icc=false needs bridge netfilter "
                "(br_netfilter), which this kernel lacks"
            )
        if not net.enable_ipv4 and not net.enable_ipv6:
            raise InvalidParameter("IPv4 or IPv6 must be enabled")
        if net.enable_ipv6:
            if ipam.subnet6 is None:
                raise InvalidParameter("ipv6 pool is empty")
            if ipam.gateway6 is None:
                raise DockerError("no IPv6 address was allocated for the bridge")  # System
            validate_ipv6_subnet(ipam.gateway6, ipam.subnet6)
        subnet6 = ipam.subnet6 if net.enable_ipv6 else None
        if not (self._bridge_names[options.bridge_name]
                or (ipam.subnet is not None and self._subnets.overlaps(ipam.subnet))
                or (subnet6 is not None
                    and any(subnet6.overlaps(other) for other in self._subnets6))):
            return
        for other in self._networks.values():
            reason = None
            if other.options.bridge_name == options.bridge_name:
                reason = "networks have same bridge name"
            elif ipam.subnet and other.subnet and ipam.subnet.overlaps(other.subnet):
                reason = "networks have overlapping IPv4"
            elif subnet6 and other.subnet6 and subnet6.overlaps(other.subnet6):
                reason = "networks have overlapping IPv6"
            if reason:
                raise Forbidden(
                    f"cannot create network {net.id} ({options.bridge_name}): conflicts with "
                    f"network {other.spec.id} ({other.options.bridge_name}): {reason}"
                )

    def create_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        self.validate_network(net, ipam)
        options = parse_options(net.options, "br-" + net.id[:12])
        network = _Network(net, ipam.gateway, options=options, subnet=ipam.subnet)
        address = address6 = None
        if ipam.gateway is not None and ipam.subnet is not None and not options.inhibit_ipv4:
            address = IPv4Interface(f"{ipam.gateway}/{ipam.subnet.prefixlen}")
        if net.enable_ipv6 and ipam.subnet6 is not None and ipam.gateway6 is not None:
            network.subnet6, network.gateway6 = ipam.subnet6, ipam.gateway6
            address6 = IPv6Interface(f"{ipam.gateway6}/{ipam.subnet6.prefixlen}")
        if address6 is None:
            self._fabric.create_bridge(options.bridge_name, address, options.mtu)
        else:
            self._fabric.create_bridge(options.bridge_name, address, options.mtu,
                                       address6=address6)
        if not options.enable_icc and not self._bridge_nf_call:
            for knob in BRIDGE_NF_CALL:
                self._fabric.write_sysctl(knob, "1")
            self._bridge_nf_call = True
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
        if network.subnet6 is not None:
            self._subnets6[network.subnet6] += change
            if self._subnets6[network.subnet6] <= 0:
                del self._subnets6[network.subnet6]

    def _retire(self, network: _Network) -> None:
        self._index(network, -1)
        self._fabric.delete_link(network.options.bridge_name)
        self._firewall.withdraw(_firewall_key(network.spec.id))

    def bridge_name(self, net_id: str) -> str:
        return self._net(net_id).options.bridge_name

    def create_endpoint(self, net_id: str,
                        ep: driverapi.EndpointSpec) -> driverapi.EndpointInfo:
        network = self._net(net_id)
        if ep.address6 is not None and network.subnet6 is None:
            raise InvalidParameter(f"network {net_id} has no IPv6: endpoint {ep.id} "
                                   f"cannot have the IPv6 address {ep.address6}")
        info = super().create_endpoint(net_id, ep)
        return driverapi.EndpointInfo(mac=info.mac, address=info.address,
                                      address6=network.endpoints[ep.id].address6)

    def _new_endpoint(self, network: _Network, ep: driverapi.EndpointSpec) -> _Endpoint:
        host_ifname = "veth" + secrets.token_hex(4)[:7]
        return _Endpoint(ep.id, ep.mac or random_mac(), ep.address, host_ifname=host_ifname,
                         address6=ep.address6)

    def join(self, net_id: str, ep_id: str, sandbox: driverapi.SandboxRef) -> driverapi.JoinInfo:
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        gateway = self._gateway(network, sandbox)
        gateway6 = None
        if ep.address6 is not None and sandbox.wants_gateway and not network.spec.internal:
            gateway6 = network.gateway6
        try:
            self._fabric.plug(
                sandbox.handle,
                Plug(ep.host_ifname, network.options.bridge_name, sandbox.ifname, ep.address,
                     ep.mac, network.options.mtu, gateway, address6=ep.address6,
                     gateway6=gateway6),
            )
        except Exception:
            self._fabric.delete_link(ep.host_ifname)
            raise
        ep.sandbox = sandbox.handle
        ep.ifname = sandbox.ifname
        return driverapi.JoinInfo(ifname=sandbox.ifname, gateway=gateway, gateway6=gateway6)

    # -- published ports (ProgramExternalConnectivity) -----------------------------

    def publish(self, net_id: str, ep_id: str,
                bindings: tuple[PortBinding, ...]) -> tuple[PortBinding, ...]:
        """Take a host port for each binding and DNAT it to the endpoint, all or none;
        an internal network publishes nothing, as libnetwork skips it.

        A binding on the default address is made on 0.0.0.0 and, for an endpoint with
        IPv6, on [::] with the same host port (Docker 28's needSamePort). A binding on
        an address of the family the endpoint lacks is not made: Docker's userland
        proxy would carry it across families (6->4, 4->6), and the emulator has none."""
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        self._unpublish(ep)
        if network.spec.internal or (ep.address is None and ep.address6 is None) \
                or not bindings:
            return ()
        if self._ports is None:
            self._ports = PortAllocator(local_port_range(self._fabric))
        allocator = self._ports
        programmed: list[PortBinding] = []
        try:
            for wanted in sorted(bindings, key=PortBinding.sort_key):
                programmed += self._bind(allocator, ep, wanted)
            bridge = network.options.bridge_name
            if not network.route_localnet:
                self._fabric.write_sysctl(f"net/ipv4/conf/{bridge}/route_localnet", "1")
                network.route_localnet = True
            rules = tuple(PublishedPort(bridge, b.proto, _specific(b.host_ip), b.host_port,
                                        self._target(ep, b), b.port) for b in programmed)
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

    @staticmethod
    def _target(ep: _Endpoint, binding: PortBinding) -> IPv4Address | IPv6Address:
        address = ep.address6 if binding.host_ip and binding.host_ip.version == 6 else ep.address
        assert address is not None
        return address.ip

    @staticmethod
    def _bind(allocator: PortAllocator, ep: _Endpoint,
              wanted: PortBinding) -> list[PortBinding]:
        """The bindings one asked-for binding makes (none, one, or 0.0.0.0 and [::])."""
        if wanted.host_ip is not None:
            families = [wanted.host_ip]
        else:
            families = [ip for ip, address in ((ANY, ep.address), (ANY6, ep.address6))
                        if address is not None]
        made: list[PortBinding] = []
        for host_ip in families:
            if (ep.address6 if host_ip.version == 6 else ep.address) is None:
                continue
            if made:  # [::] after 0.0.0.0: the same port
                start = end = made[0].host_port
            else:
                start, end = wanted.host_port, wanted.host_port_end or wanted.host_port
            try:
                port = allocator.request(host_ip, wanted.proto, start, end)
            except Exception:
                for done in made:
                    allocator.release(done.host_ip or ANY, done.proto, done.host_port)
                raise
            made.append(PortBinding(wanted.proto, wanted.port, host_ip, port, port))
        return made

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
