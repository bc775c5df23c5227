"""The remote protocol's bodies as libnetwork builds and reads them (Docker 28).

What goes to a plugin (CreateNetwork's and GwAllocCheck's Options, IPv4Data and
IPv6Data) and how its replies are judged (CreateEndpoint's Interface, Join's names,
gateways and routes), with libnetwork's error texts, kept apart from the calls
themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
)

from emulator.drivers import base as driverapi

GENERIC = "com.docker.network.generic"
ENABLE_IPV4 = "com.docker.network.enable_ipv4"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
INTERNAL = "com.docker.network.internal"
LOCAL_ADDRESS_SPACE = "LocalDefault"
GLOBAL_ADDRESS_SPACE = "GlobalDefault"
ROUTE_NEXTHOP, ROUTE_CONNECTED = 0, 1
DEFAULT_ROUTE = "0.0.0.0/0"
DEFAULT_ROUTE6 = "::/0"


def network_options(net: driverapi.NetworkSpec) -> dict[str, object]:
    """The network's generic options as libnetwork passes them to CreateNetwork (and
    GwAllocCheck): the driver options (`-o`) as strings under com.docker.network.generic,
    enable_ipv4 and enable_ipv6 always (booleans), com.docker.network.internal only for
    --internal. Labels are not passed (libnetwork keeps them apart from the generic
    options)."""
    options: dict[str, object] = {
        GENERIC: {key: str(value) for key, value in net.options.items()},
        ENABLE_IPV4: net.enable_ipv4,
        ENABLE_IPV6: net.enable_ipv6,
    }
    if net.internal:
        options[INTERNAL] = True
    return options


def ipv4_data(ipam: driverapi.IPAMData, scope: str) -> list[dict[str, object]]:
    """IPv4Data as driverapi.IPAMData marshals it (empty for an IPv6-only network)."""
    return _ipam_data(ipam.subnet, ipam.gateway, ipam.aux_addresses, scope)


def ipv6_data(net: driverapi.NetworkSpec, ipam: driverapi.IPAMData,
              scope: str) -> list[dict[str, object]]:
    """IPv6Data: the IPv6 pool of a network with IPv6 enabled, else empty (libnetwork
    allocates no IPv6 pool for it)."""
    if not net.enable_ipv6:
        return []
    return _ipam_data(ipam.subnet6, ipam.gateway6, ipam.aux_addresses6, scope)


def _ipam_data(subnet: IPv4Network | IPv6Network | None,
               gateway: IPv4Address | IPv6Address | None,
               aux: Mapping[str, IPv4Address | IPv6Address],
               scope: str) -> list[dict[str, object]]:
    """driverapi.IPAMData.MarshalJSON: Gateway and AuxAddresses only when there are
    some, each address with the pool's prefix length."""
    if subnet is None:
        return []
    data: dict[str, object] = {
        "AddressSpace": GLOBAL_ADDRESS_SPACE if scope == driverapi.GLOBAL
        else LOCAL_ADDRESS_SPACE,
        "Pool": str(subnet)}
    if gateway is not None:
        data["Gateway"] = f"{gateway}/{subnet.prefixlen}"
    if aux:
        data["AuxAddresses"] = {name: f"{address}/{subnet.prefixlen}"
                                for name, address in aux.items()}
    return [data]


class ReplyRefused(ValueError):
    """A reply libnetwork refuses; the message is libnetwork's."""


@dataclass(frozen=True)
class GivenInterface:
    """What a CreateEndpoint reply's Interface set, parsed."""

    address: IPv4Interface | None = None
    mac: str | None = None
    address6: IPv6Interface | None = None


def _mac(text: str) -> str:
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ReplyRefused(f"address {text}: invalid MAC address")
    try:
        return ":".join(f"{int(p, 16):02x}" for p in parts)
    except ValueError:
        raise ReplyRefused(f"address {text}: invalid MAC address") from None


def endpoint_interface(reply: dict, requested: driverapi.EndpointSpec) -> GivenInterface:
    """libnetwork's reading of a CreateEndpoint reply's Interface: parsed (Address,
    AddressIPv6, MacAddress), then refused (ReplyRefused) when it sets a MAC or an
    address the endpoint already has, even the same one (SetMacAddress, then
    SetIPAddress for Address and for AddressIPv6). SetIPAddress files an address by
    its family, whichever field carried it."""
    given = reply.get("Interface")
    if given is None:
        return GivenInterface()
    if not isinstance(given, dict):
        raise ReplyRefused("json: cannot unmarshal the reply's Interface: not an object")
    texts = [str(given.get("Address") or ""), str(given.get("AddressIPv6") or "")]
    mac_text = str(given.get("MacAddress") or "")
    parsed = []
    for text in texts:
        if text:
            try:
                parsed.append(ip_interface(text))
            except ValueError:
                raise ReplyRefused(f"invalid CIDR address: {text}") from None
    mac = _mac(mac_text) if mac_text else None
    if mac is not None and requested.mac:
        raise ReplyRefused(
            "driver modified interface MAC address: endpoint interface MAC address present "
            f"({requested.mac.lower()}). Cannot be modified with {mac}.")
    address: IPv4Interface | None = None
    address6: IPv6Interface | None = None
    for interface in parsed:
        present = requested.address6 if interface.version == 6 else requested.address
        present = present or (address6 if interface.version == 6 else address)
        if present is not None:
            raise ReplyRefused(
                "driver modified interface address: endpoint interface IP present "
                f"({present}). Cannot be modified with ({interface}).")
        if isinstance(interface, IPv6Interface):
            address6 = interface
        else:
            address = interface
    return GivenInterface(address, mac, address6)


@dataclass(frozen=True)
class JoinReply:
    """A Join reply, parsed as libnetwork's remote driver reads it."""

    src_name: str
    dst_prefix: str
    gateway: IPv4Address | None
    routes: tuple[tuple[str, str | None], ...]
    disable_gateway_service: bool
    gateway6: IPv6Address | None = None

    def needs_gateway_service(self, internal: bool) -> bool:
        """libnetwork's needDefaultGW for this endpoint: on a network that is not
        internal, a join that neither gives a gateway of either family (nor a default
        route) nor disables the gateway service gets an endpoint on docker_gwbridge."""
        has_default = (self.gateway is not None or self.gateway6 is not None or any(
            destination in (DEFAULT_ROUTE, DEFAULT_ROUTE6) for destination, _ in self.routes))
        return not internal and not self.disable_gateway_service and not has_default


def join_reply(reply: dict) -> JoinReply:
    names = reply.get("InterfaceName")
    if not isinstance(names, dict) or not names.get("SrcName"):
        raise ReplyRefused("Join answered no InterfaceName.SrcName")
    gateway = _gateway(reply, "Gateway", IPv4Address)
    gateway6 = _gateway(reply, "GatewayIPv6", IPv6Address)
    routes = []
    for route in reply.get("StaticRoutes") or []:
        try:
            kind = int(route.get("RouteType", ROUTE_NEXTHOP))
            hop = None if kind == ROUTE_CONNECTED else str(route["NextHop"])
            destination = str(ip_interface(str(route["Destination"])).network)
            routes.append((destination, hop))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ReplyRefused(f"invalid static route {route!r}") from None
    return JoinReply(str(names["SrcName"]), str(names.get("DstPrefix") or "eth"), gateway,
                     tuple(routes), bool(reply.get("DisableGatewayService")), gateway6)


def _gateway(reply: dict, key: str, family: type) -> IPv4Address | IPv6Address | None:
    """Join's Gateway or GatewayIPv6: a plain address, "" for none. libnetwork takes
    either family in either field; the emulator refuses the wrong one by name."""
    text = str(reply.get(key) or "")
    if not text:
        return None
    try:
        parsed = ip_address(text)
    except ValueError:
        raise ReplyRefused(f'unable to parse {key} "{text}"') from None
    if not isinstance(parsed, family):
        version = "IPv4" if family is IPv4Address else "IPv6"
        raise ReplyRefused(f'unable to parse {key} "{text}" (not {version})')
    return parsed


def rolled_back(message: str, rollback_error: str | None) -> str:
    """libnetwork 28's text for an error after which the call was undone."""
    if rollback_error is None:
        return f"{message}; rolled back"
    return f"{rollback_error}; failed to roll back: {message}"
