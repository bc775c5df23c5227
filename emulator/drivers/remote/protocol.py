"""The remote protocol's bodies as libnetwork builds and reads them (Docker 28).

What goes to a plugin (CreateNetwork's and GwAllocCheck's Options, IPv4Data) and
how its replies are judged (CreateEndpoint's Interface, Join's names, gateway and
routes), with libnetwork's error texts, kept apart from the calls themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, ip_address, ip_interface

from emulator.drivers import base as driverapi

GENERIC = "com.docker.network.generic"
ENABLE_IPV4 = "com.docker.network.enable_ipv4"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
INTERNAL = "com.docker.network.internal"
LOCAL_ADDRESS_SPACE = "LocalDefault"
GLOBAL_ADDRESS_SPACE = "GlobalDefault"
ROUTE_NEXTHOP, ROUTE_CONNECTED = 0, 1
DEFAULT_ROUTE = "0.0.0.0/0"


def network_options(net: driverapi.NetworkSpec) -> dict[str, object]:
    """The network's generic options as libnetwork passes them to CreateNetwork (and
    GwAllocCheck): the driver options (`-o`) as strings under com.docker.network.generic,
    enable_ipv4 and enable_ipv6 always, com.docker.network.internal only for --internal.
    Labels are not passed (libnetwork keeps them apart from the generic options)."""
    options: dict[str, object] = {
        GENERIC: {key: str(value) for key, value in net.options.items()},
        ENABLE_IPV4: True,
        ENABLE_IPV6: False,
    }
    if net.internal:
        options[INTERNAL] = True
    return options


def ipv4_data(ipam: driverapi.IPAMData, scope: str) -> list[dict[str, object]]:
    """IPv4Data as driverapi.IPAMData marshals it: Gateway only when there is one."""
    if ipam.subnet is None:
        return []
    data: dict[str, object] = {
        "AddressSpace": GLOBAL_ADDRESS_SPACE if scope == driverapi.GLOBAL
        else LOCAL_ADDRESS_SPACE,
        "Pool": str(ipam.subnet)}
    if ipam.gateway is not None:
        data["Gateway"] = f"{ipam.gateway}/{ipam.subnet.prefixlen}"
    return [data]


class ReplyRefused(ValueError):
    """A reply libnetwork refuses; the message is libnetwork's."""


@dataclass(frozen=True)
class GivenInterface:
    """What a CreateEndpoint reply's Interface set, parsed."""

    address: IPv4Interface | None = None
    mac: str | None = None


def _mac(text: str) -> str:
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ReplyRefused(f"address {text}: invalid MAC address")
    try:
        return ":".join(f"{int(p, 16):02x}" for p in parts)
    except ValueError:
        raise ReplyRefused(f"address {text}: invalid MAC address") from None


def endpoint_interface(reply: dict, requested: driverapi.EndpointSpec) -> GivenInterface:
    """libnetwork's reading of a CreateEndpoint reply's Interface: parsed, then refused
    (ReplyRefused) when it sets a MAC or an address the endpoint already has, even the
    same one (endpointInterface.SetMacAddress / setAddress)."""
    given = reply.get("Interface")
    if given is None:
        return GivenInterface()
    if not isinstance(given, dict):
        raise ReplyRefused("json: cannot unmarshal the reply's Interface: not an object")
    address_text = str(given.get("Address") or "")
    ipv6_text = str(given.get("AddressIPv6") or "")
    mac_text = str(given.get("MacAddress") or "")
    address = None
    for text in (address_text, ipv6_text):
        if text:
            try:
                parsed = ip_interface(text)
            except ValueError:
                raise ReplyRefused(f"invalid CIDR address: {text}") from None
            if text == address_text:
                address = parsed
    mac = _mac(mac_text) if mac_text else None
    if mac is not None and requested.mac:
        raise ReplyRefused(
            "driver modified interface MAC address: endpoint interface MAC address present "
            f"({requested.mac.lower()}). Cannot be modified with {mac}.")
    if address is not None and requested.address is not None:
        raise ReplyRefused(
            "driver modified interface address: endpoint interface IP present "
            f"({requested.address}). Cannot be modified with ({address}).")
    if ipv6_text:
        raise ReplyRefused(f"driver modified interface address: the plugin set the IPv6 "
                           f"address {ipv6_text}, and this emulator has no IPv6")
    if address is not None and not isinstance(address, IPv4Interface):
        raise ReplyRefused(f"driver modified interface address: {address} is not IPv4")
    return GivenInterface(address, mac)


@dataclass(frozen=True)
class JoinReply:
    """A Join reply, parsed as libnetwork's remote driver reads it."""

    src_name: str
    dst_prefix: str
    gateway: IPv4Address | None
    routes: tuple[tuple[str, str | None], ...]
    disable_gateway_service: bool

    def needs_gateway_service(self, internal: bool) -> bool:
        """libnetwork's needDefaultGW for this endpoint: on a network that is not
        internal, a join that neither gives a gateway (nor a default route) nor disables
        the gateway service gets an endpoint on docker_gwbridge."""
        has_default = self.gateway is not None or any(
            destination == DEFAULT_ROUTE for destination, _ in self.routes)
        return not internal and not self.disable_gateway_service and not has_default


def join_reply(reply: dict) -> JoinReply:
    names = reply.get("InterfaceName")
    if not isinstance(names, dict) or not names.get("SrcName"):
        raise ReplyRefused("Join answered no InterfaceName.SrcName")
    gateway = None
    if reply.get("Gateway"):
        text = str(reply["Gateway"])
        try:
            parsed = ip_address(text)
        except ValueError:
            raise ReplyRefused(f'unable to parse Gateway "{text}"') from None
        if not isinstance(parsed, IPv4Address):
            raise ReplyRefused(f'unable to parse Gateway "{text}" (not IPv4)')
        gateway = parsed
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
                     tuple(routes), bool(reply.get("DisableGatewayService")))


def rolled_back(message: str, rollback_error: str | None) -> str:
    """libnetwork 28's text for an error after which the call was undone."""
    if rollback_error is None:
        return f"{message}; rolled back"
    return f"{rollback_error}; failed to roll back: {message}"
