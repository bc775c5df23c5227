"""Check a user's IPAM configuration the way dockerd does before it allocates.

Docker (25+) validates every IPAM config of a `network create` request up
front (api/types/network/ipam.go ValidateIPAM) and answers with all problems
at once, as one InvalidParameter error:

    invalid network config:
    * invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24
    * invalid gateway 10.9.9.9: parent subnet 10.1.2.3/24 doesn't contain this address

Validation is pure: it never touches an address space.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address
from typing import NamedTuple

from emulator.errdefs import InvalidParameter
from emulator.ipam import messages
from emulator.ipam.parse import IPPrefix, family_name, parse_address, parse_prefix


class IpamConfig(NamedTuple):
    """One entry of a network's IPAM Config list, as the Engine API takes it."""

    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: Mapping[str, str] | None = None


def validate_ipam_config(
    subnet: str | None,
    ip_range: str | None = None,
    gateway: str | None = None,
    aux_addresses: Mapping[str, str] | None = None,
    *,
    enable_ipv6: bool = False,
) -> list[str]:
    """Return Docker's error sentences for one IPAM config, in Docker's order.

    An IPv6 subnet on a network without IPv6 is skipped, as Docker 26+ does.
    Auxiliary addresses are checked in the mapping's order (Go's is random).
    """
    try:
        prefix = parse_prefix(subnet or "")
    except ValueError:
        return [messages.SUBNET_NOT_CIDR.format(subnet=subnet or "")]
    if prefix.version == 6 and not enable_ipv6:
        return []
    errors = _subnet_errors(prefix)
    errors += _ip_range_errors(ip_range, prefix)
    reason = _address_error(gateway, prefix)
    if reason:
        errors.append(messages.GATEWAY_INVALID.format(gateway=gateway, reason=reason))
    for name, address in (aux_addresses or {}).items():
        reason = _address_error(address, prefix)
        if reason:
            errors.append(messages.AUX_INVALID.format(name=name, reason=reason))
    return errors


def validate_ipam(configs: Iterable[IpamConfig], *, enable_ipv6: bool = False) -> list[str]:
    """Return the errors of all configs of one network, config after config."""
    errors: list[str] = []
    for config in configs:
        errors += validate_ipam_config(*config, enable_ipv6=enable_ipv6)
    return errors


def format_ipam_errors(errors: Iterable[str]) -> str:
    """Join errors as dockerd does: a header, then one "* " line per error."""
    lines = [error.replace("\n", "\n\t") for error in errors]
    return messages.INVALID_CONFIG_HEADER + "\n* " + "\n* ".join(lines)


def check_ipam(configs: Iterable[IpamConfig], *, enable_ipv6: bool = False) -> None:
    """Raise InvalidParameter with Docker's combined text if any config is invalid."""
    errors = validate_ipam(configs, enable_ipv6=enable_ipv6)
    if errors:
        raise InvalidParameter(format_ipam_errors(errors))


def check_ipam_config(
    subnet: str | None,
    ip_range: str | None = None,
    gateway: str | None = None,
    aux_addresses: Mapping[str, str] | None = None,
    *,
    enable_ipv6: bool = False,
) -> None:
    """Raise InvalidParameter with Docker's combined text if this config is invalid."""
    check_ipam([IpamConfig(subnet, ip_range, gateway, aux_addresses)], enable_ipv6=enable_ipv6)


def _subnet_errors(prefix: IPPrefix) -> list[str]:
    if prefix.ip != prefix.network.network_address:
        return [messages.SUBNET_HOST_BITS.format(subnet=prefix, masked=prefix.network)]
    return []


def _ip_range_errors(ip_range: str | None, subnet: IPPrefix) -> list[str]:
    if not ip_range:
        return []
    try:
        prefix = parse_prefix(ip_range)
    except ValueError:
        return [messages.RANGE_NOT_CIDR.format(ip_range=ip_range)]
    if prefix.version != subnet.version:
        return [messages.RANGE_FAMILY.format(ip_range=ip_range, family=family_name(subnet))]
    errors = []
    if prefix.network.prefixlen < subnet.network.prefixlen:
        errors.append(messages.RANGE_TOO_BIG.format(ip_range=ip_range, subnet=subnet))
    if prefix.ip != prefix.network.network_address:
        errors.append(messages.RANGE_HOST_BITS.format(ip_range=prefix, masked=prefix.network))
    if not subnet.network.overlaps(prefix.network):
        errors.append(messages.RANGE_OUTSIDE.format(ip_range=ip_range, subnet=subnet))
    return errors


def _address_error(text: str | None, subnet: IPPrefix) -> str | None:
    """Why `text` cannot be an address of `subnet`, or None if it can (or is unset)."""
    if not text:
        return None
    try:
        address = parse_address(text)
    except ValueError:
        return messages.ADDRESS_NOT_IP
    if address.version != subnet.version:
        return messages.ADDRESS_FAMILY.format(family=family_name(subnet))
    if not _contains(subnet, address):
        return messages.ADDRESS_OUTSIDE.format(subnet=subnet)
    return None


def _contains(subnet: IPPrefix, address: IPv4Address | IPv6Address) -> bool:
    """netip.Prefix.Contains: host bits ignored, a zoned address never inside."""
    if isinstance(address, IPv6Address) and address.scope_id:
        return False
    return address in subnet.network
