"""A network driver that is a plugin: every CNM operation becomes a remote driver call.

Docker's remote driver protocol (libnetwork/drivers/remote), as Docker 28 speaks it:
GetCapabilities once, when the plugin is first used (dockerd asks again only when the
plugin activates again, which a plugin found by its socket or spec file does once per
daemon: a restarted plugin keeps the capability it first stated); GwAllocCheck before
a network is made, for a plugin that states GwAllocChecker; CreateNetwork with
libnetwork's generic options (protocol.py); CreateEndpoint, whose reply may not set an
address or MAC the endpoint already has; Join, given a SandboxKey path that opens the
container's namespace (the plugin names an interface it made in the host's namespace;
the emulator moves it into the sandbox, names it, and sets its address, MAC and
routes); Leave, after which the interface goes back to the host's namespace under its
SrcName, down (libnetwork's RemoveInterface), then DeleteEndpoint; DeleteNetwork.
An error from Leave, DeleteEndpoint or DeleteNetwork is logged and the operation
carries on, as libnetwork does ("driver error disconnecting container"). Optional
calls answered 404 are "not implemented". A failed CreateEndpoint or Join is undone
(DeleteEndpoint, Leave) and reported with libnetwork's "; rolled back".

IPv6 as Docker sends it: CreateNetwork's IPv6Data (pool, gateway, aux addresses) and
com.docker.network.enable_ipv6 for a network with IPv6; CreateEndpoint's
Interface.AddressIPv6; a CreateEndpoint reply may give the IPv6 address the IPAM did
not; Join's GatewayIPv6 becomes the container's IPv6 default route. What the
emulator does not build, IPv6 static routes from Join, is refused by name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Interface

from emulator.drivers import base as driverapi
from emulator.drivers.bookkeeping import Endpoint, Network, NetworkBookkeeping
from emulator.drivers.remote import protocol
from emulator.drivers.remote.client import (
    NotImplementedByPlugin,
    PluginAddress,
    PluginCallFailed,
    PluginClient,
    PluginError,
)
from emulator.errdefs import DockerError, NotImplementedByEmulator
from emulator.fabric.base import Adoption, HostFabric

log = logging.getLogger(__name__)

NETWORK_DRIVER = "NetworkDriver"
GENERIC = protocol.GENERIC
OPTIONAL_CALLS = ("DiscoverNew", "DiscoverDelete", "ProgramExternalConnectivity",
                  "RevokeExternalConnectivity", "AllocateNetwork", "FreeNetwork")


def _failed(exc: Exception) -> DockerError:
    """The error the user sees: the plugin's own text as libnetwork's remote driver
    reports it ("remote: ..."), or what went wrong asking it."""
    if isinstance(exc, PluginCallFailed):
        return DockerError(f"remote: {exc.message}")
    return DockerError(str(exc))


@dataclass
class _Endpoint(Endpoint):
    address6: IPv6Interface | None = None
    external: bool = False
    src_name: str | None = None
    """The name the plugin gave the interface in the host's namespace (Join's SrcName):
    it goes back under this name on Leave."""


_Network = Network[_Endpoint]


class RemoteDriver(NetworkBookkeeping[_Network, _Endpoint]):
    def __init__(self, name: str, client: PluginClient, fabric: HostFabric, scope: str,
                 connectivity_scope: str, gw_alloc_checker: bool = False) -> None:
        super().__init__(fabric)
        self.name = name
        self.capability = driverapi.Capability(
            scope=scope, connectivity_scope=connectivity_scope, provides_gateway=False,
            gateway_from_join=True, released_before_sandbox=True,
            isolated_by_host_firewall=True, ipv6=True)
        self.gw_alloc_checker = gw_alloc_checker
        """The plugin stated GwAllocChecker: it is asked GwAllocCheck before a network."""
        self._client = client
        self.implemented: dict[str, bool] = {}

    @classmethod
    def activate(cls, address: PluginAddress, fabric: HostFabric, timeout: float = 10.0,
                 node_address: IPv4Address | None = None) -> RemoteDriver:
        """Plugin.Activate, then GetCapabilities (and DiscoverNew for this node)."""
        client = PluginClient(address, timeout)
        try:
            implements = client.call("Plugin.Activate").get("Implements") or []
            if NETWORK_DRIVER not in implements:
                raise DockerError("Plugin does not implement the requested driver")
            caps = client.call("NetworkDriver.GetCapabilities")
        except (PluginError, PluginCallFailed, NotImplementedByPlugin) as exc:
            raise DockerError(f"legacy plugin: {exc}") from None
        scope = str(caps.get("Scope", "local")).lower()
        if scope not in ("local", "global"):
            raise DockerError(f'plugin "{address.name}": invalid capability: expecting '
                              f"'local' or 'global', got {caps.get('Scope')}")
        connectivity = str(caps.get("ConnectivityScope") or scope).lower()
        if connectivity not in ("local", "global"):
            raise DockerError(f'plugin "{address.name}": invalid capability: expecting '
                              f"'local' or 'global', got {caps.get('ConnectivityScope')}")
        driver = cls(address.name, client, fabric, scope, connectivity,
                     gw_alloc_checker=caps.get("GwAllocChecker") is True)
        if node_address is not None:
            driver._optional("DiscoverNew", {"DiscoveryType": 1, "DiscoveryData": {
                "Address": str(node_address), "BindAddress": str(node_address),
                "Self": True}})
        return driver

    # -- calls ----------------------------------------------------------------

    def _call(self, method: str, body: dict) -> dict:
        try:
            return self._client.call(f"NetworkDriver.{method}", body)
        except NotImplementedByPlugin:
            raise DockerError(f"NetworkDriver.{method}: 404 page not found") from None
        except (PluginError, PluginCallFailed) as exc:
            raise _failed(exc) from None

    def _optional(self, method: str, body: dict) -> dict | None:
        """An optional call: None when the plugin does not implement it (404)."""
        try:
            reply = self._client.call(f"NetworkDriver.{method}", body)
        except NotImplementedByPlugin:
            self.implemented[method] = False
            return None
        except (PluginError, PluginCallFailed) as exc:
            raise _failed(exc) from None
        self.implemented[method] = True
        return reply

    def _undo(self, method: str, body: dict) -> str | None:
        """Best effort while rolling back: the original error is the one to report;
        returns what went wrong undoing, if anything."""
        try:
            self._call(method, body)
        except DockerError as exc:
            return exc.message
        return None

    def _logged(self, method: str, body: dict, what: str) -> None:
        """A call whose failure dockerd logs and carries on after (Leave, DeleteEndpoint,
        DeleteNetwork)."""
        try:
            self._call(method, body)
        except DockerError as exc:
            log.warning("driver error %s: plugin %s: %s", what, self.name, exc.message)

    # -- networks -------------------------------------------------------------

    def validate_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        """GwAllocCheck, for a plugin that states GwAllocChecker (Docker 28 asks it
        before allocating the network's addresses)."""
        if not self.gw_alloc_checker:
            return
        reply = self._call("GwAllocCheck", {"Options": protocol.network_options(net)})
        for family, enabled in (("IPv4", net.enable_ipv4), ("IPv6", net.enable_ipv6)):
            if enabled and reply.get(f"Skip{family}") is True:
                raise NotImplementedByEmulator(
                    f"plugin {self.name} answered GwAllocCheck with Skip{family}: a network "
                    f"without an {family} gateway address is not supported by this emulator")

    def create_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        self._call("CreateNetwork", {
            "NetworkID": net.id, "Options": protocol.network_options(net),
            "IPv4Data": protocol.ipv4_data(ipam, self.capability.scope),
            "IPv6Data": protocol.ipv6_data(net, ipam, self.capability.scope)})
        self._networks[net.id] = Network(net, ipam.gateway)

    def allocate(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        """AllocateNetwork, once per global network, on the node that creates it."""
        self._optional("AllocateNetwork", {"NetworkID": net.id, "Options": dict(net.options),
                                           "IPv4Data": [], "IPv6Data": []})

    def free(self, net_id: str) -> None:
        self._optional("FreeNetwork", {"NetworkID": net_id})

    def _discard(self, network: _Network, ep: _Endpoint) -> None:
        self._release(network, ep)
        self._undo("DeleteEndpoint", {"NetworkID": network.spec.id, "EndpointID": ep.id})

    def _retire(self, network: _Network) -> None:
        self._logged("DeleteNetwork", {"NetworkID": network.spec.id},
                     f"deleting network {network.spec.name}")

    # -- endpoints ------------------------------------------------------------

    def _new_endpoint(self, network: _Network, ep: driverapi.EndpointSpec) -> _Endpoint:
        ids = {"NetworkID": network.spec.id, "EndpointID": ep.id}
        reply = self._call("CreateEndpoint", {
            **ids,
            "Interface": {"Address": str(ep.address) if ep.address else "",
                          "AddressIPv6": str(ep.address6) if ep.address6 else "",
                          "MacAddress": ep.mac or ""},
            "Options": {}})
        try:
            given = protocol.endpoint_interface(reply, ep)
        except protocol.ReplyRefused as exc:
            raise DockerError(protocol.rolled_back(
                str(exc), self._undo("DeleteEndpoint", ids))) from None
        return _Endpoint(ep.id, ep.mac or given.mac or "", ep.address or given.address,
                         address6=ep.address6 or given.address6)

    def create_endpoint(self, net_id: str, ep: driverapi.EndpointSpec) -> driverapi.EndpointInfo:
        info = super().create_endpoint(net_id, ep)
        return replace(info, address6=self._net(net_id).endpoints[ep.id].address6)

    def delete_endpoint(self, net_id: str, ep_id: str) -> None:
        if self._forget_endpoint(net_id, ep_id) is not None:
            self._logged("DeleteEndpoint", {"NetworkID": net_id, "EndpointID": ep_id},
                         f"deleting endpoint {ep_id}")

    def join(self, net_id: str, ep_id: str, sandbox: driverapi.SandboxRef) -> driverapi.JoinInfo:
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        ids = {"NetworkID": net_id, "EndpointID": ep_id}
        reply = self._call("Join", {**ids, "SandboxKey": self._fabric.sandbox_key(
            sandbox.handle), "Options": {}})
        try:
            parsed = protocol.join_reply(reply)
            routes6 = [destination for destination, _ in parsed.routes if ":" in destination]
            if routes6:
                raise protocol.ReplyRefused(
                    f"Join answered IPv6 static routes ({', '.join(routes6)}), which this "
                    "emulator does not program")
        except protocol.ReplyRefused as exc:
            raise DockerError(protocol.rolled_back(
                f"plugin {self.name}: {exc}", self._undo("Leave", ids))) from None
        adoption = self._adoption(parsed, sandbox, ep)
        try:
            mac = self._fabric.adopt_link(sandbox.handle, adoption)
        except (OSError, LookupError) as exc:
            undone = self._undo("Leave", ids)
            self._fabric.delete_host_link(adoption.src_name)
            raise DockerError(protocol.rolled_back(
                f"plugin {self.name}: cannot use interface {adoption.src_name} from Join: "
                f"{exc}", undone)) from None
        ep.mac = ep.mac or mac
        ep.sandbox, ep.ifname, ep.src_name = sandbox.handle, adoption.ifname, parsed.src_name
        if adoption.gateway is not None or adoption.gateway6 is not None:
            answer = self._optional("ProgramExternalConnectivity", {**ids, "Options": {}})
            ep.external = answer is not None
        return driverapi.JoinInfo(
            ifname=adoption.ifname, gateway=parsed.gateway, gateway6=parsed.gateway6,
            mac=ep.mac,
            needs_gateway_service=parsed.needs_gateway_service(network.spec.internal))

    def _adoption(self, reply: protocol.JoinReply, sandbox: driverapi.SandboxRef,
                  ep: _Endpoint) -> Adoption:
        index = "".join(ch for ch in sandbox.ifname if ch.isdigit()) or "0"
        gateway = reply.gateway if sandbox.wants_gateway else None
        gateway6 = reply.gateway6 if sandbox.wants_gateway else None
        return Adoption(reply.src_name, f"{reply.dst_prefix}{index}", ep.address,
                        ep.mac or None, gateway, reply.routes, address6=ep.address6,
                        gateway6=gateway6)

    def _release(self, network: _Network, ep: _Endpoint) -> None:
        """libnetwork's sbLeave: RevokeExternalConnectivity and Leave (their errors
        logged), then the interface back to the host's namespace under its SrcName."""
        if ep.sandbox is None:
            return
        ids = {"NetworkID": network.spec.id, "EndpointID": ep.id}
        if ep.external:
            try:
                self._optional("RevokeExternalConnectivity", ids)
            except DockerError as exc:
                log.warning("driver failed revoking external connectivity on endpoint: "
                            "plugin %s: %s", self.name, exc.message)
            ep.external = False
        sandbox, ifname, src_name = ep.sandbox, ep.ifname, ep.src_name
        ep.sandbox = ep.ifname = ep.src_name = None
        self._logged("Leave", ids, f"disconnecting container from network {network.spec.name}")
        if ifname and src_name:
            try:
                self._fabric.release_link(sandbox, ifname, src_name)
            except OSError as exc:
                log.warning("plugin %s: cannot move %s back to the host as %s: %s",
                            self.name, ifname, src_name, exc)

    def _unknown(self, what: str) -> str:
        return f"{what} is unknown to the {self.name} plugin driver"
