"""A network driver that is a plugin: every CNM operation becomes a remote driver call.

Docker's remote driver protocol (libnetwork/drivers/remote): CreateNetwork,
CreateEndpoint, Join (the plugin names an interface it made in the host's namespace;
the emulator moves it into the sandbox, names it, and sets its address, MAC and
routes), Leave, DeleteEndpoint, DeleteNetwork, plus the optional calls, for which a
404 means "not implemented". A failed call is undone: what the emulator did is
reverted and the plugin is asked to forget what it had made, so nothing is left
half-made; the user sees the plugin's error as Docker reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from emulator.drivers import base as driverapi
from emulator.drivers.bookkeeping import Endpoint, Network, NetworkBookkeeping
from emulator.drivers.remote.client import (
    NotImplementedByPlugin,
    PluginAddress,
    PluginCallFailed,
    PluginClient,
    PluginError,
)
from emulator.errdefs import DockerError
from emulator.fabric.base import Adoption, HostFabric

NETWORK_DRIVER = "NetworkDriver"
GENERIC = "com.docker.network.generic"
ROUTE_NEXTHOP, ROUTE_CONNECTED = 0, 1
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
    external: bool = False


_Network = Network[_Endpoint]


class RemoteDriver(NetworkBookkeeping[_Network, _Endpoint]):
    def __init__(self, name: str, client: PluginClient, fabric: HostFabric, scope: str,
                 connectivity_scope: str) -> None:
        super().__init__(fabric)
        self.name = name
        self.capability = driverapi.Capability(
            scope=scope, connectivity_scope=connectivity_scope, provides_gateway=False,
            released_before_sandbox=True, isolated_by_host_firewall=True)
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
            raise DockerError(f'plugin "{address.name}": invalid capability: scope '
                              f'"{caps.get("Scope")}" (expected local or global)')
        connectivity = str(caps.get("ConnectivityScope") or scope).lower()
        driver = cls(address.name, client, fabric, scope, connectivity)
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

    def _undo(self, method: str, body: dict) -> None:
        """Best effort while rolling back: the original error is the one to report."""
        try:
            self._client.call(f"NetworkDriver.{method}", body)
        except (PluginError, PluginCallFailed, NotImplementedByPlugin):
            pass

    # -- networks -------------------------------------------------------------

    def validate_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        return None

    def create_network(self, net: driverapi.NetworkSpec, ipam: driverapi.IPAMData) -> None:
        ipv4 = []
        if ipam.subnet is not None:
            ipv4.append({"AddressSpace": "", "Pool": str(ipam.subnet),
                         "Gateway": f"{ipam.gateway}/{ipam.subnet.prefixlen}"
                         if ipam.gateway else "", "AuxAddresses": {}})
        options = {GENERIC: dict(net.options), "com.docker.network.enable_ipv6": False}
        self._call("CreateNetwork", {"NetworkID": net.id, "Options": options,
                                     "IPv4Data": ipv4, "IPv6Data": []})
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
        self._call("DeleteNetwork", {"NetworkID": network.spec.id})

    # -- endpoints ------------------------------------------------------------

    def _new_endpoint(self, network: _Network, ep: driverapi.EndpointSpec) -> _Endpoint:
        ids = {"NetworkID": network.spec.id, "EndpointID": ep.id}
        reply = self._call("CreateEndpoint", {
            **ids,
            "Interface": {"Address": str(ep.address) if ep.address else "", "AddressIPv6": "",
                          "MacAddress": ep.mac or ""},
            "Options": {}})
        given = reply.get("Interface") or {}
        if not isinstance(given, dict):
            self._undo("DeleteEndpoint", ids)
            raise DockerError(f"plugin {self.name}: CreateEndpoint answered an Interface that "
                              "is not an object")
        if given.get("Address") and ep.address and given["Address"] != str(ep.address):
            self._undo("DeleteEndpoint", ids)
            raise DockerError(
                "driver modified interface address: endpoint interface IP present "
                f"({ep.address}). Cannot be modified with ({given['Address']}).")
        if given.get("MacAddress") and ep.mac and given["MacAddress"] != ep.mac:
            self._undo("DeleteEndpoint", ids)
            raise DockerError(
                "driver modified interface MAC address: endpoint interface MAC address present "
                f"({ep.mac}). Cannot be modified with {given['MacAddress']}.")
        mac = ep.mac or str(given.get("MacAddress") or "")
        return _Endpoint(ep.id, mac, ep.address)

    def delete_endpoint(self, net_id: str, ep_id: str) -> None:
        if self._forget_endpoint(net_id, ep_id) is not None:
            self._call("DeleteEndpoint", {"NetworkID": net_id, "EndpointID": ep_id})

    def join(self, net_id: str, ep_id: str, sandbox: driverapi.SandboxRef) -> driverapi.JoinInfo:
        network = self._net(net_id)
        ep = network.endpoints[ep_id]
        ids = {"NetworkID": net_id, "EndpointID": ep_id}
        reply = self._call("Join", {**ids, "SandboxKey": f"/var/run/docker/netns/"
                                    f"{sandbox.handle.key[:12]}", "Options": {}})
        try:
            adoption = self._adoption(reply, sandbox, ep)
        except DockerError:
            self._undo("Leave", ids)
            raise
        try:
            mac = self._fabric.adopt_link(sandbox.handle, adoption)
        except (OSError, LookupError) as exc:
            self._undo("Leave", ids)
            self._fabric.delete_host_link(adoption.src_name)
            raise DockerError(f"plugin {self.name}: cannot use interface "
                              f"{adoption.src_name} from Join: {exc}") from None
        ep.mac = ep.mac or mac
        ep.sandbox, ep.ifname = sandbox.handle, adoption.ifname
        if adoption.gateway is not None:
            reply = self._optional("ProgramExternalConnectivity", {**ids, "Options": {}})
            ep.external = reply is not None
        return driverapi.JoinInfo(ifname=adoption.ifname, gateway=adoption.gateway, mac=ep.mac)

    def _adoption(self, reply: dict, sandbox: driverapi.SandboxRef, ep: _Endpoint) -> Adoption:
        names = reply.get("InterfaceName")
        if not isinstance(names, dict) or not names.get("SrcName"):
            raise DockerError(f"plugin {self.name}: Join answered no InterfaceName.SrcName")
        prefix = str(names.get("DstPrefix") or "eth")
        index = "".join(ch for ch in sandbox.ifname if ch.isdigit()) or "0"
        gateway = None
        if reply.get("Gateway") and sandbox.wants_gateway:
            try:
                gateway = IPv4Address(str(reply["Gateway"]).split("/")[0])
            except ValueError:
                raise DockerError(f"plugin {self.name}: Join answered an invalid Gateway "
                                  f"{reply['Gateway']!r}") from None
        routes = []
        for route in reply.get("StaticRoutes") or []:
            try:
                kind = int(route.get("RouteType", ROUTE_NEXTHOP))
                hop = None if kind == ROUTE_CONNECTED else str(route["NextHop"])
                routes.append((str(route["Destination"]), hop))
            except (KeyError, TypeError, ValueError, AttributeError):
                raise DockerError(f"plugin {self.name}: Join answered an invalid static route "
                                  f"{route!r}") from None
        return Adoption(str(names["SrcName"]), f"{prefix}{index}", ep.address, ep.mac or None,
                        gateway, tuple(routes))

    def _release(self, network: _Network, ep: _Endpoint) -> None:
        if ep.sandbox is None:
            return
        ids = {"NetworkID": network.spec.id, "EndpointID": ep.id}
        if ep.external:
            self._undo("RevokeExternalConnectivity", ids)
            ep.external = False
        sandbox, ifname = ep.sandbox, ep.ifname
        ep.sandbox = ep.ifname = None
        self._call("Leave", ids)
        if ifname and self._fabric.sandbox_alive(sandbox):
            self._fabric.unplug(sandbox, ifname)

    def _unknown(self, what: str) -> str:
        return f"{what} is unknown to the {self.name} plugin driver"

