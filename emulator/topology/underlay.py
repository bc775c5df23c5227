"""Addresses on the underlay link: its subnet, the outside host, every Docker host.

The outside host defaults to the subnet's last usable address. A Docker host without
an address gets the first free one from .11 up (then .1 to .10), in host order,
skipping addresses given explicitly to other hosts and to the outside host.

With `subnet6` the link is dual stack: every node also gets an IPv6 address, by
default the one at the same offset in `subnet6` as its IPv4 address in `subnet`
(192.0.2.11 -> 2001:db8::b), so the two are easy to pair up. An IPv6-only underlay
is not implemented and is refused with a message saying so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from itertools import chain
from typing import Any

from .addresses import (
    is_ipv6_network,
    parse_ipv4_address,
    parse_ipv4_network,
    parse_ipv6_address,
    parse_ipv6_network,
)
from .errors import FieldPath, ProblemLog
from .model import ADDRESS_FAMILIES, OutsideSpec, UnderlaySpec

FIRST_HOST_OFFSET = 11
LONGEST_PREFIX = 30
DEFAULT_SUBNET = "192.0.2.0/24"
DEFAULT_MTU, MIN_MTU, MAX_MTU = 1500, 1280, 9000
LONGEST_PREFIX6 = 120


@dataclass(frozen=True)
class UnderlayPlan:
    """The resolved underlay, outside host and host addresses."""

    underlay: UnderlaySpec
    outside: OutsideSpec
    host_addresses: Mapping[str, IPv4Address]
    host_addresses6: Mapping[str, IPv6Address]


def plan_underlay(raw: Mapping[str, Any], log: ProblemLog) -> UnderlayPlan | None:
    """Resolves and checks every underlay address; None when the subnet is unusable."""
    subnet = _subnet(raw.get("underlay", {}).get("subnet", DEFAULT_SUBNET), log)
    outside_path = ("outside", "address")
    outside_text = raw.get("outside", {}).get("address")
    outside = None if outside_text is None else parse_ipv4_address(outside_text, outside_path, log)
    hosts: Mapping[str, Mapping[str, Any]] = raw.get("hosts", {})
    given = {
        name: parse_ipv4_address(host["address"], ("hosts", name, "address"), log)
        for name, host in hosts.items()
        if "address" in host
    }
    if subnet is None:
        return None
    if outside is not None:
        _check_usable(outside, subnet, outside_path, log)
    outside_is_default = outside_text is None
    outside = outside or _usable(subnet)[-1]
    taken = _check_given(given, subnet, outside, outside_is_default, log)
    free = _free_addresses(subnet, {*taken, outside})
    addresses: dict[str, IPv4Address] = {}
    for name in hosts:
        address = given.get(name) or next(free, None)
        if address is None:
            log.report(
                ("hosts", name),
                f"no free underlay address left in {subnet}",
                allowed=["give the host an address", "widen underlay.subnet"],
            )
        else:
            addresses[name] = address
    mtu = _mtu(raw.get("underlay", {}).get("mtu", DEFAULT_MTU), log)
    subnet6, advertise, outside6, addresses6 = _plan_ipv6(raw, subnet, outside, addresses, log)
    return UnderlayPlan(UnderlaySpec(subnet, mtu, subnet6, advertise),
                        OutsideSpec(outside, outside6), addresses, addresses6)


def _plan_ipv6(raw: Mapping[str, Any], subnet: IPv4Network, outside: IPv4Address,
               addresses: Mapping[str, IPv4Address], log: ProblemLog,
               ) -> tuple[IPv6Network | None, str, IPv6Address | None, dict[str, IPv6Address]]:
    """The underlay's IPv6 subnet, advertised family, and every node's IPv6 address."""
    underlay = raw.get("underlay", {})
    hosts: Mapping[str, Mapping[str, Any]] = raw.get("hosts", {})
    given_paths: dict[str, FieldPath] = {
        name: ("hosts", name, "address6") for name, host in hosts.items() if "address6" in host}
    if "address6" in raw.get("outside", {}):
        given_paths["outside"] = ("outside", "address6")
    advertise = underlay.get("advertise", ADDRESS_FAMILIES[0])
    if "subnet6" not in underlay:
        for path in given_paths.values():
            log.report(path, "the underlay has no IPv6: an IPv6 address needs underlay.subnet6",
                       allowed=["set underlay.subnet6", "remove this address6"])
        if advertise == "ipv6":
            log.report(("underlay", "advertise"),
                       "ipv6 needs IPv6 addresses on the underlay (underlay.subnet6)",
                       allowed=["set underlay.subnet6", "advertise: ipv4"])
        return None, advertise, None, {}
    subnet6 = _subnet6(underlay["subnet6"], log)
    texts = {name: (hosts[name] if name != "outside" else raw["outside"])["address6"]
             for name in given_paths}
    given = {name: parse_ipv6_address(texts[name], given_paths[name], log)
             for name in given_paths}
    if subnet6 is None:
        return None, advertise, None, {}
    taken: dict[IPv6Address, str] = {}
    for name, address in given.items():
        path = given_paths[name]
        if address is None:
            continue
        if address not in subnet6 or address == subnet6.network_address:
            why = ("is the subnet's own address (Subnet-Router anycast)" if address in subnet6
                   else f"is not in the underlay subnet6 {subnet6}")
            log.report(path, f"{address} {why}",
                       allowed=[f"{subnet6.network_address + 1} to {subnet6[-1]}"])
        elif address in taken:
            log.report(path, f"{address} is already the IPv6 address of {_who(taken[address])}")
        else:
            taken[address] = name
    v4 = {"outside": outside, **addresses}
    paths = {"outside": ("outside",), **{name: ("hosts", name) for name in addresses}}
    resolved: dict[str, IPv6Address] = {}
    for name, address4 in v4.items():
        if name in given_paths:
            chosen = given[name]
            if chosen is not None and taken.get(chosen) == name:
                resolved[name] = chosen
            continue
        offset = int(address4) - int(subnet.network_address)
        if offset >= subnet6.num_addresses:
            log.report(paths[name], f"no default IPv6 address: {address4} is {offset} "
                       f"addresses into {subnet}, beyond the end of {subnet6}",
                       allowed=["give it an address6", "a wider underlay.subnet6"])
            continue
        address6 = subnet6.network_address + offset
        if address6 in taken:
            log.report(paths[name], f"its default IPv6 address {address6} (same offset as "
                       f"{address4}) is already the address of {_who(taken[address6])}",
                       allowed=["give it an address6", "another address6 for the other"])
            continue
        taken[address6] = name
        resolved[name] = address6
    outside6 = resolved.pop("outside", None)
    return subnet6, advertise, outside6, resolved


def _who(name: str) -> str:
    return "the outside host" if name == "outside" else f"host {name!r}"


def _subnet6(text: str, log: ProblemLog) -> IPv6Network | None:
    path = ("underlay", "subnet6")
    subnet = parse_ipv6_network(text, path, log)
    if subnet is None:
        return None
    if subnet.is_link_local or subnet.is_multicast or subnet.overlaps(
            IPv6Network("fe80::/10")) or subnet.prefixlen == 0:
        log.report(path, f"{subnet} is not a unicast prefix a link can be numbered from",
                   allowed=["a global or unique-local prefix, e.g. 2001:db8::/64 or fd00:1::/64"])
        return None
    if subnet.prefixlen > LONGEST_PREFIX6:
        log.report(path, f"/{subnet.prefixlen} is too long for an underlay",
                   allowed=[f"a prefix length of /{LONGEST_PREFIX6} or shorter (/64 is usual)"])
        return None
    return subnet


def _mtu(value: float, log: ProblemLog) -> int:
    if value != int(value) or not MIN_MTU <= value <= MAX_MTU:
        log.report(("underlay", "mtu"), f"invalid MTU {value}",
                   allowed=[f"a whole number from {MIN_MTU} to {MAX_MTU}"])
        return DEFAULT_MTU
    return int(value)


def _subnet(text: str | None, log: ProblemLog) -> IPv4Network | None:
    path = ("underlay", "subnet")
    if text is not None and is_ipv6_network(text):
        log.report(path, f"{text!r} is an IPv6 network: an IPv6-only underlay is not "
                   "implemented", allowed=["an IPv4 subnet here and the IPv6 one in "
                                           "underlay.subnet6 (a dual-stack underlay)"])
        return None
    subnet = None if text is None else parse_ipv4_network(text, path, log)
    if subnet is not None and subnet.prefixlen > LONGEST_PREFIX:
        log.report(
            path,
            f"/{subnet.prefixlen} leaves no room for a Docker host and the outside host",
            allowed=[f"a prefix length of /{LONGEST_PREFIX} or shorter"],
        )
        return None
    return subnet


def _usable(subnet: IPv4Network) -> tuple[IPv4Address, IPv4Address]:
    return subnet.network_address + 1, subnet.broadcast_address - 1


def _check_usable(
    address: IPv4Address, subnet: IPv4Network, path: FieldPath, log: ProblemLog
) -> bool:
    first, last = _usable(subnet)
    if first <= address <= last:
        return True
    if address == subnet.network_address:
        problem = f"{address} is the network address of {subnet}"
    elif address == subnet.broadcast_address:
        problem = f"{address} is the broadcast address of {subnet}"
    else:
        problem = f"{address} is not in the underlay subnet {subnet}"
    log.report(path, problem, allowed=[f"{first} to {last}"])
    return False


def _check_given(
    given: Mapping[str, IPv4Address | None],
    subnet: IPv4Network,
    outside: IPv4Address,
    outside_is_default: bool,
    log: ProblemLog,
) -> dict[IPv4Address, str]:
    taken: dict[IPv4Address, str] = {}
    for name, address in given.items():
        path = ("hosts", name, "address")
        if address is None or not _check_usable(address, subnet, path, log):
            continue
        if address == outside:
            default = " (by default, the last usable address)" if outside_is_default else ""
            log.report(
                path,
                f"{address} is the outside host's address{default}",
                allowed=["another address", "a different outside.address"],
            )
        elif address in taken:
            log.report(path, f"{address} is already the address of host {taken[address]!r}")
        else:
            taken[address] = name
    return taken


def _free_addresses(subnet: IPv4Network, taken: set[IPv4Address]) -> Iterator[IPv4Address]:
    last = subnet.num_addresses - 2
    offsets = chain(range(FIRST_HOST_OFFSET, last + 1), range(1, min(FIRST_HOST_OFFSET, last + 1)))
    for offset in offsets:
        address = subnet.network_address + offset
        if address not in taken:
            yield address
