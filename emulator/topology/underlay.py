"""Addresses on the underlay link: its subnet, the outside host, every Docker host.

The outside host defaults to the subnet's last usable address. A Docker host without
an address gets the first free one from .11 up (then .1 to .10), in host order,
skipping addresses given explicitly to other hosts and to the outside host.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from itertools import chain
from typing import Any

from .addresses import parse_ipv4_address, parse_ipv4_network
from .errors import FieldPath, ProblemLog
from .model import OutsideSpec, UnderlaySpec

FIRST_HOST_OFFSET = 11
LONGEST_PREFIX = 30
DEFAULT_SUBNET = "192.0.2.0/24"
DEFAULT_MTU, MIN_MTU, MAX_MTU = 1500, 1280, 9000


@dataclass(frozen=True)
class UnderlayPlan:
    """The resolved underlay, outside host and host addresses."""

    underlay: UnderlaySpec
    outside: OutsideSpec
    host_addresses: Mapping[str, IPv4Address]


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
    return UnderlayPlan(UnderlaySpec(subnet, mtu), OutsideSpec(outside), addresses)


def _mtu(value: float, log: ProblemLog) -> int:
    if value != int(value) or not MIN_MTU <= value <= MAX_MTU:
        log.report(("underlay", "mtu"), f"invalid MTU {value}",
                   allowed=[f"a whole number from {MIN_MTU} to {MAX_MTU}"])
        return DEFAULT_MTU
    return int(value)


def _subnet(text: str | None, log: ProblemLog) -> IPv4Network | None:
    path = ("underlay", "subnet")
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
