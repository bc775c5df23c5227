"""Bridge network options: Docker's keys, defaults and validation messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address

from emulator.errdefs import DockerError, InvalidParameter, NotImplementedByEmulator

BRIDGE_NAME = "com.docker.network.bridge.name"
ENABLE_ICC = "com.docker.network.bridge.enable_icc"
ENABLE_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
HOST_BINDING_IPV4 = "com.docker.network.bridge.host_binding_ipv4"
DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
INHIBIT_IPV4 = "com.docker.network.bridge.inhibit_ipv4"
GATEWAY_MODE_IPV4 = "com.docker.network.bridge.gateway_mode_ipv4"
GATEWAY_MODE_IPV6 = "com.docker.network.bridge.gateway_mode_ipv6"
MTU = "com.docker.network.driver.mtu"
IFACE_PREFIX = "com.docker.network.container_iface_prefix"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
ENABLE_IPV4 = "com.docker.network.enable_ipv4"

ALLOWED = (
    BRIDGE_NAME, ENABLE_ICC, ENABLE_MASQUERADE, HOST_BINDING_IPV4, DEFAULT_BRIDGE, INHIBIT_IPV4,
    GATEWAY_MODE_IPV4, GATEWAY_MODE_IPV6, MTU, IFACE_PREFIX, ENABLE_IPV6, ENABLE_IPV4,
)
IFNAMSIZ = 15
MIN_MTU = 68
MAX_MTU = 65535

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _parse_error(key: str, raw: str, why: str) -> InvalidParameter:
    return InvalidParameter(f"failed to parse {key} value: {raw} ({why})")


def parse_bool(key: str, raw: str) -> bool:
    """Go's strconv.ParseBool, failing with the text dockerd's bridge driver gives."""
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise _parse_error(key, raw, f'strconv.ParseBool: parsing "{raw}": invalid syntax')


def parse_mtu(raw: str) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise _parse_error(MTU, raw, f'strconv.Atoi: parsing "{raw}": invalid syntax') from None
    if not MIN_MTU <= value <= MAX_MTU:
        raise InvalidParameter(f"invalid MTU number: {value}")
    return value


def parse_ipv4(key: str, raw: str) -> str:
    try:
        IPv4Address(raw)
    except ValueError:
        raise _parse_error(key, raw, "nil ip") from None
    return raw


GATEWAY_MODES = ("nat", "nat-unprotected", "routed", "isolated")
"""Docker 28's gateway modes (newGwMode); the emulator does nat, the default."""


def parse_gateway_mode(key: str, raw: str) -> str:
    """A gateway mode, refused with Docker's text if unknown and with one naming it if
    the emulator does not do it (only nat: masquerade, and DNAT for published ports)."""
    if raw not in GATEWAY_MODES:
        raise _parse_error(key, raw, f"unknown gateway mode {raw}")
    if raw != "nat":
        raise NotImplementedByEmulator(
            f"{key}={raw} is not supported by the emulator (only the default, nat)")
    return raw


@dataclass(frozen=True)
class BridgeOptions:
    bridge_name: str
    enable_icc: bool
    enable_masquerade: bool
    mtu: int
    iface_prefix: str
    default_bridge: bool
    inhibit_ipv4: bool

    def as_docker_options(self, given: Mapping[str, str]) -> dict[str, str]:
        """The Options map `network inspect` shows: what the user gave, as given."""
        return dict(given)


def parse_options(options: Mapping[str, str], default_name: str) -> BridgeOptions:
    unknown = sorted(k for k in options if k not in ALLOWED)
    if unknown:
        raise InvalidParameter(
            f'unknown option "{unknown[0]}" for the bridge driver; allowed: {", ".join(ALLOWED)}'
        )
    name = options.get(BRIDGE_NAME, default_name)
    if len(name) > IFNAMSIZ:
        raise DockerError(
            "failed to check bridge interface existence: numerical result out of range"
        )
    if not name or "/" in name or any(c.isspace() for c in name) or name in (".", ".."):
        raise InvalidParameter(
            f'invalid bridge name "{name}": a Linux interface name is 1 to {IFNAMSIZ} '
            "characters without '/' or white space"
        )
    parse_ipv4(HOST_BINDING_IPV4, options.get(HOST_BINDING_IPV4, "0.0.0.0"))
    for key in (GATEWAY_MODE_IPV4, GATEWAY_MODE_IPV6):
        parse_gateway_mode(key, options.get(key, "nat"))
    return BridgeOptions(
        bridge_name=name,
        enable_icc=parse_bool(ENABLE_ICC, options.get(ENABLE_ICC, "true")),
        enable_masquerade=parse_bool(ENABLE_MASQUERADE, options.get(ENABLE_MASQUERADE, "true")),
        mtu=parse_mtu(options.get(MTU, "1500")),
        iface_prefix=options.get(IFACE_PREFIX, "eth"),
        default_bridge=parse_bool(DEFAULT_BRIDGE, options.get(DEFAULT_BRIDGE, "false")),
        inhibit_ipv4=parse_bool(INHIBIT_IPV4, options.get(INHIBIT_IPV4, "false")),
    )
