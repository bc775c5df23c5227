"""Overlay networks on one Docker host: a namespace with br0 and a VXLAN device per network.

As in Docker, the overlay namespace is made on a host when the first local endpoint
joins, and goes with the last one: it holds the bridge `br0` (with the network's
gateway address) and a VXLAN device whose UDP socket sits on the host's underlay.
Containers are plugged into br0 by veth. The swarm's control plane tells every host
with the network where each endpoint lives; the host programs forwarding (MAC ->
VTEP) and neighbour (IP -> MAC) entries on its VXLAN device, which answers ARP from
them: nothing is learnt from flooding.

IPv6 inside the overlay is as in Docker 28: an endpoint's IPv6 address (from IPAM) is
set on the container's interface, but the bridge gets no IPv6 gateway and the
control plane carries only IPv4 neighbours (libnetwork's overlay ignores ipV6Data
and programs peerAdd with the IPv4 address alone); the network needs IPv4.

A host's VTEP is its advertised swarm address. When that is IPv6 (Docker 25+,
libnetwork's isIPv6Transport), the VXLAN device is made for IPv6 and the tunnels'
outer headers are IPv6: 70 bytes per packet instead of 50. As in Docker, the MTU
stays underlay - 50 (`com.docker.network.driver.mtu` or 1450) whatever the family.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface
from typing import ClassVar

from emulator.drivers import base as driverapi
from emulator.drivers.bookkeeping import Endpoint, Network, NetworkBookkeeping
from emulator.drivers.overlay.options import parse_options
from emulator.errdefs import DockerError
from emulator.fabric.base import HostFabric, Plug, SandboxHandle
from emulator.ids import mac_from_ip, random_mac
from emulator.swarm.cluster import NOT_IN_SWARM, SwarmBinding
from emulator.swarm.controlplane import Peer

BRIDGE = "br0"
VXLAN = "vxlan0"
IPSEC_MISSING = ("cannot join secure network: required modules to install IPSEC rules are "
                 "missing on host")


@dataclass(kw_only=True)
class _Endpoint(Endpoint):
    host_ifname: str
    address6: IPv6Interface | None = None


@dataclass(kw_only=True)
class _Network(Network[_Endpoint]):
    subnet: IPv4Network | None
    vni: int
    mtu: int
    encrypted: bool = False
    namespace: SandboxHandle | None = None
    vxlan: str = VXLAN


CAPABILITY = driverapi.Capability(
    scope=driverapi.SWARM, connectivity_scope=driverapi.GLOBAL, provides_gateway=False,
    released_before_sandbox=True, reaches_outside_via_gwbridge=True, ipv6=True)
IPV4_REQUIRED = "ipv4 pool is empty"
"""libnetwork drivers/overlay ov_network.go: an overlay needs an IPv4 subnet."""
IPV6_POOL_MISSING = ("an overlay network with --ipv6 needs an IPv6 --subnet: the swarm's "
                     "address pools are IPv4 only")
"""A guard: the engine gives an --ipv6 swarm network a /64 of each node's own pool (the
swarm allocates IPv4 only, as Docker 28's does), so it never sends one without."""


def register(registrar: driverapi.Registrar) -> None:
    registrar.register("overlay", lambda ctx: OverlayDriver(ctx.fabric), CAPABILITY)


class OverlayDriver(NetworkBookkeeping[_Network, _Endpoint]):
    name: ClassVar[str] = "overlay"

    def __init__(self, fabric: HostFabric) -> None:
        super().__init__(fabric)
        self._swarm: SwarmBinding | None = None

    def bind(self, swarm: SwarmBinding | None) -> None:
        """The swarm this host joined (None when it left)."""
        self._swarm = swarm

    def check_options(self, options: Mapping[str, str]) -> None:
        parse_options(options)

    def validate_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        if self._swarm is None:
            raise DockerError(NOT_IN_SWARM)
        options = parse_options(net.options)
        if options.vni is None:
            raise DockerError(f"network {net.id}: no VXLAN ID allocated by the swarm")
        if not net.enable_ipv4:
            raise DockerError(IPV4_REQUIRED)
        if net.enable_ipv6 and ipam.subnet6 is None:
            raise DockerError(IPV6_POOL_MISSING)

    def create_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        self.validate_network(net, ipam)
        options = parse_options(net.options)
        assert options.vni is not None
        self._networks[net.id] = _Network(net, ipam.gateway, subnet=ipam.subnet, vni=options.vni,
                                          mtu=options.mtu, encrypted=options.encrypted)

    def _new_endpoint(self, network: _Network, ep: driverapi.EndpointSpec) -> _Endpoint:
        mac = ep.mac or (mac_from_ip(ep.address.ip) if ep.address else random_mac())
        host_ifname = "veth" + secrets.token_hex(4)[:7]
        return _Endpoint(ep.id, mac, ep.address, host_ifname=host_ifname, address6=ep.address6)

    def create_endpoint(self, net_id: str, ep: driverapi.EndpointSpec) -> driverapi.EndpointInfo:
        info = super().create_endpoint(net_id, ep)
        return driverapi.EndpointInfo(info.mac, info.address, ep.address6)

    def delete_endpoint(self, net_id: str, ep_id: str) -> None:
        self._forget_endpoint(net_id, ep_id)
        network = self._networks.get(net_id)
        if network is not None and not any(e.sandbox for e in network.endpoints.values()):
            self._retire(network)

    def join(self, net_id: str, ep_id: str, sandbox: driverapi.SandboxRef) -> driverapi.JoinInfo:
        network = self._net(net_id)
        if self._swarm is None:
            raise DockerError(NOT_IN_SWARM)
        if network.encrypted:
            raise DockerError(IPSEC_MISSING)
        ep = network.endpoints[ep_id]
        namespace = self._namespace(network)
        self._fabric.plug_from(namespace, sandbox.handle, Plug(
            ep.host_ifname, BRIDGE, sandbox.ifname, ep.address, ep.mac, network.mtu,
            address6=ep.address6))
        ep.sandbox, ep.ifname = sandbox.handle, sandbox.ifname
        if ep.address is not None:
            self._swarm.control.publish(Peer(net_id, ep_id, self._swarm.host, self._swarm.vtep,
                                             ep.address.ip, ep.mac))
        return driverapi.JoinInfo(ifname=sandbox.ifname)

    def _namespace(self, network: _Network) -> SandboxHandle:
        """The network's namespace on this host, made (and told its peers) on first use."""
        if network.namespace is not None:
            return network.namespace
        assert self._swarm is not None and network.subnet and network.gateway
        address = IPv4Interface(f"{network.gateway}/{network.subnet.prefixlen}")
        namespace = self._fabric.create_overlay_sandbox(f"1-{network.spec.id[:10]}", BRIDGE,
                                                        address, network.mtu)
        try:
            self._fabric.add_vxlan(namespace, network.vxlan, network.vni,
                                   self._swarm.data_path_port, network.mtu, BRIDGE,
                                   ipv6=self._swarm.vtep.version == 6)
        except BaseException:
            self._fabric.destroy_sandbox(namespace)
            raise
        network.namespace = namespace
        peers = self._swarm.control.subscribe(
            network.spec.id, self._swarm.host,
            lambda peer, add: self._program(network, peer, add))
        for peer in peers:
            if peer.host != self._swarm.host:
                self._program(network, peer, True)
        return namespace

    def _program(self, network: _Network, peer: Peer, add: bool) -> None:
        if network.namespace is not None:
            self._fabric.program_peer(network.namespace, network.vxlan, peer.address,
                                      peer.mac, peer.vtep, add)

    def _retire(self, network: _Network) -> None:
        """Remove the network's namespace from this host, with its VXLAN device."""
        if network.namespace is None:
            return
        if self._swarm is not None:
            self._swarm.control.unsubscribe(network.spec.id, self._swarm.host)
        # Deleted now, not with the namespace (which the kernel frees later): until then
        # the old device would hold the VNI on the host's VXLAN socket.
        self._fabric.unplug(network.namespace, network.vxlan)
        self._fabric.destroy_sandbox(network.namespace)
        network.namespace = None

    def _release(self, network: _Network, ep: _Endpoint) -> None:
        if ep.sandbox is None:
            return
        if self._swarm is not None:
            self._swarm.control.withdraw(network.spec.id, ep.id)
        if network.namespace is not None:
            self._fabric.unplug(network.namespace, ep.host_ifname)
        ep.sandbox = ep.ifname = None

    def _check_endpoint(self, network: _Network, ep: _Endpoint) -> list[str]:
        if ep.sandbox is None or network.namespace is None:
            return []
        links = self._fabric.sandbox_links(network.namespace)
        return [f"{name} is missing from the overlay namespace"
                for name in (BRIDGE, network.vxlan, ep.host_ifname) if name not in links]
