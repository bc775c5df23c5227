"""Parse addresses and CIDR prefixes as strictly as Go's net/netip does.

Docker validates IPAM text with netip.ParseAddr and netip.ParsePrefix, which
refuse inputs Python's ipaddress accepts (a bare address as a prefix, a
netmask after the slash, "/024", a zone in a prefix). Accepting those would let
the emulator create networks dockerd refuses, so parsing lives here once.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

IPAddress = IPv4Address | IPv6Address
IPPrefix = IPv4Interface | IPv6Interface


def parse_address(text: str) -> IPAddress:
    """Parse an IPv4 or IPv6 address like netip.ParseAddr; ValueError if not one."""
    if not isinstance(text, str) or not text.isascii() or text != text.strip():
        raise ValueError(f"not an IP address: {text!r}")
    return ipaddress.ip_address(text)


def parse_prefix(text: str) -> IPPrefix:
    """Parse "address/bits" like netip.ParsePrefix, keeping host bits.

    The result is an interface: `.ip` is the address as written and
    `.network` the masked block, so callers can report host bits set.
    """
    address_text, slash, bits_text = text.rpartition("/") if isinstance(text, str) else ("", "", "")
    if not slash or "%" in address_text:
        raise ValueError(f"not a CIDR prefix: {text!r}")
    address = parse_address(address_text)
    bits = _parse_bits(bits_text, address.max_prefixlen)
    return ipaddress.ip_interface((address, bits))


def _parse_bits(text: str, max_bits: int) -> int:
    """Parse a prefix length: plain decimal, no sign, no leading zero."""
    if not (text.isascii() and text.isdigit()) or (len(text) > 1 and text[0] == "0"):
        raise ValueError(f"bad prefix length: {text!r}")
    bits = int(text)
    if bits > max_bits:
        raise ValueError(f"prefix length out of range: {text!r}")
    return bits


def family_name(value: IPAddress | IPPrefix) -> str:
    """Docker's name of the address family: "IPv4" or "IPv6"."""
    return f"IPv{value.version}"
