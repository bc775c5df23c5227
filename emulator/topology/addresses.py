"""Address syntax, checked with messages that say what was expected.

The underlay is parsed into ipaddress objects here. Docker-facing values (a network's
subnet, a container's IP) are only checked for syntax and kept as written: Go's
net.ParseCIDR accepts host bits, so these checks do too, and the engine judges meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)

from .errors import FieldPath, ProblemLog


def parse_ipv4_address(text: str, path: FieldPath, log: ProblemLog) -> IPv4Address | None:
    try:
        address = ip_address(text)
    except ValueError:
        log.report(path, f"invalid IPv4 address {text!r}", allowed=["e.g. 192.0.2.11"])
        return None
    if not isinstance(address, IPv4Address):
        log.report(path, f"{text!r} is not an IPv4 address", allowed=["e.g. 192.0.2.11"])
        return None
    return address


def parse_ipv4_network(text: str, path: FieldPath, log: ProblemLog) -> IPv4Network | None:
    return _parse_network(text, path, log, IPv4Network, "network",
                          "an IPv4 network in CIDR notation, e.g. 192.0.2.0/24")


def parse_ipv6_address(text: str, path: FieldPath, log: ProblemLog) -> IPv6Address | None:
    example = ["e.g. 2001:db8::11"]
    try:
        address = ip_address(text)
    except ValueError:
        log.report(path, f"invalid IPv6 address {text!r}", allowed=example)
        return None
    if not isinstance(address, IPv6Address) or "%" in text:
        log.report(path, f"{text!r} is not an IPv6 address", allowed=example)
        return None
    return address


def parse_ipv6_network(text: str, path: FieldPath, log: ProblemLog) -> IPv6Network | None:
    return _parse_network(text, path, log, IPv6Network, "IPv6 network",
                          "an IPv6 network in CIDR notation, e.g. 2001:db8::/64")


def _parse_network(text: str, path: FieldPath, log: ProblemLog, family: type, what: str,
                   example: str):
    """`text` as a network of `family` in CIDR notation, or None with the problem logged."""
    try:
        network = ip_network(text)
    except ValueError as error:
        if "/" in text and "host bits set" in str(error):
            fixed = ip_network(text, strict=False)
            log.report(path, f"{text!r} has host bits set (did you mean {str(fixed)!r}?)")
        else:
            log.report(path, f"invalid {what} {text!r}", allowed=[example])
        return None
    if "/" not in text or not isinstance(network, family):
        log.report(path, f"invalid {what} {text!r}", allowed=[example])
        return None
    return network


def is_ipv6_network(text: str) -> bool:
    """Whether `text` is IPv6 CIDR notation (host bits allowed)."""
    try:
        return "/" in text and isinstance(ip_network(text, strict=False), IPv6Network)
    except ValueError:
        return False


def check_address_syntax(text: str, path: FieldPath, log: ProblemLog) -> bool:
    if "%" not in text and _parses(ip_address, text):
        return True
    log.report(path, f"invalid IP address {text!r}", allowed=["e.g. 10.10.0.5 or 2001:db8::5"])
    return False


def check_cidr_syntax(text: str, path: FieldPath, log: ProblemLog) -> bool:
    address, _, prefix = text.partition("/")
    if "%" not in address and prefix.isdigit() and _parses(ip_interface, text):
        return True
    log.report(
        path, f"invalid network {text!r}", allowed=["CIDR notation, e.g. 10.10.0.0/24 or fd00::/64"]
    )
    return False


def _parses(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True
