"""Which address families a network has, and what its IPAM configs become per family.

Docker 28 (daemon/network.go createNetwork): IPv4 is on unless `EnableIPv4` is
false (`--ipv4=false`, API 1.48+) and IPv6 off unless `EnableIPv6` is true; when
the request leaves a field unset, the driver option com.docker.network.enable_ipv4
/ enable_ipv6 decides (a bad value is refused), and a field that is set drops that
option. The IPAM configs are split by their subnet's family (getIpamConfig); a
family takes one pool per config, or one predefined pool when it has none
(libnetwork ipamAllocateVersion), and only if it is enabled. `network inspect`
lists the user's configs, then the pools of a family the user configured none of
(buildIPAMResources).

Swarm-scoped networks (Docker 28, libnetwork/cnmallocator and controller.go) keep
IPv4 on, and the swarm's allocator hands out IPv4 pools only; refuse_swarm_families
says what the emulator does where Docker's allocator fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from emulator import errdefs as err
from emulator.drivers.base import Capability
from emulator.ipam import IpamConfig, Pool
from emulator.ipam.parse import parse_prefix

ENABLE_IPV4_OPTION = "com.docker.network.enable_ipv4"
ENABLE_IPV6_OPTION = "com.docker.network.enable_ipv6"

_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True)
class Families:
    """The families a create request asks for, and its options as dockerd keeps them."""

    ipv4: bool
    ipv6: bool
    options: dict[str, str]


def resolve_families(enable_ipv4: bool | None, enable_ipv6: bool | None,
                     options: Mapping[str, str]) -> Families:
    """The request's fields win over the driver options, which they then remove."""
    kept = {k: str(v) for k, v in options.items()}
    ipv4 = _flag(enable_ipv4, ENABLE_IPV4_OPTION, kept, default=True)
    ipv6 = _flag(enable_ipv6, ENABLE_IPV6_OPTION, kept, default=False)
    return Families(ipv4, ipv6, kept)


def _flag(field: bool | None, option: str, options: dict[str, str], default: bool) -> bool:
    if field is not None:
        options.pop(option, None)
        return field
    text = options.get(option)
    if text is None:
        return default
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise err.InvalidParameter(f'driver-opt "{option}" is not a valid bool')


def config_version(config: IpamConfig) -> int:
    """The family of a config's subnet (validated before: it parses)."""
    return parse_prefix(config.subnet or "").version


def split_configs(configs: Sequence[IpamConfig]) -> tuple[list[IpamConfig], list[IpamConfig]]:
    """(IPv4 configs, IPv6 configs), each in the request's order."""
    v4 = [c for c in configs if config_version(c) == 4]
    v6 = [c for c in configs if config_version(c) == 6]
    return v4, v6


def refuse_unsupported(driver: str, capability: Capability, families: Families) -> None:
    """A driver that does not declare IPv6 gets no IPv6 network, nor an IPv6-only one."""
    if not capability.uses_ipam or capability.ipv6:
        return
    if families.ipv6:
        raise err.NotImplementedByEmulator(
            f"IPv6 on {driver} networks is not supported by the emulator yet (--ipv6)")
    if not families.ipv4:
        raise err.NotImplementedByEmulator(
            f"IPv6-only {driver} networks (--ipv4=false) are not supported by the emulator yet")


def refuse_several_subnets(driver: str, pools4: Sequence[Pool], pools6: Sequence[Pool]) -> None:
    """One pool per family reaches a driver (IPAMData). The bridge driver refuses more with
    Docker's words (bridge_linux.go processIPAM); other drivers are the emulator's limit."""
    if len(pools4) <= 1 and len(pools6) <= 1:
        return
    if driver == "bridge":
        raise err.Forbidden("bridge driver doesn't support multiple subnets")
    family = "IPv4" if len(pools4) > 1 else "IPv6"
    raise err.NotImplementedByEmulator(
        f"several {family} subnets on one {driver} network are not supported by the emulator")


IPV4_REQUIRED_IN_SWARM = "IPv4 cannot be disabled in a Swarm scoped network"
"""libnetwork controller.go NewNetwork, on a manager, before the request goes to the swarm."""


def swarm_ipv6_subnet_refused(subnet: str) -> str:
    """Why an IPv6 subnet on a swarm network is refused. Docker 28 accepts the create and
    then cannot allocate the network: cnmallocator's allocatePools asks for the pool
    without V6, so the default IPAM files it in its IPv4 space, and the gateway request
    that follows looks it up in the IPv6 space (moby/moby#48116, #52469, still so in 29)."""
    return (f"an IPv6 --subnet ({subnet}) on a swarm network is refused: Docker 28's swarm "
            "allocator cannot allocate it (the manager logs \"failed allocating pools and "
            "gateway IP for network ...: cannot find address pool for poolID:"
            f"{subnet}/invalid Prefix\", the network is never allocated and no container can "
            "attach to it, moby/moby#48116); with --ipv6 and no IPv6 --subnet, each node gives "
            "the network a /64 of its own IPv6 pool, as Docker 28 does")


def refuse_swarm_families(configs: Sequence[IpamConfig], families: Families) -> None:
    """A swarm network keeps IPv4 (Docker's text) and takes no IPv6 subnet (Docker's
    allocator fails on one, whether or not --ipv6 is given: the config reaches the swarm
    either way)."""
    if not families.ipv4:
        raise err.InvalidParameter(IPV4_REQUIRED_IN_SWARM)
    _, configs6 = split_configs([c for c in configs if c.subnet])
    if configs6:
        subnet = str(parse_prefix(configs6[0].subnet or "").network)
        raise err.NotImplementedByEmulator(swarm_ipv6_subnet_refused(subnet))


def refuse_no_family(families: Families) -> None:
    """Docker's bridge driver text; the emulator asks it of every driver that uses the IPAM."""
    if not families.ipv4 and not families.ipv6:
        raise err.InvalidParameter("IPv4 or IPv6 must be enabled")


def inspect_configs(configs: Sequence[IpamConfig], pools: Sequence[Pool],
                    predefined: bool) -> list[dict[str, object]]:
    """IPAM.Config of `network inspect`: each user config as given (a gateway only if the
    user gave one; the default bridge's, which the daemon configures, always), then the
    allocated pools of each family the user configured nothing for; IPv4 before IPv6.
    `_user_subnet` marks a user's subnet (--ip/--ip6 are allowed there), `_version` the
    family."""
    user_pools = {(p.subnet, p.ip_range): p for p in pools}
    shown: list[dict[str, object]] = []
    for config in sorted(configs, key=config_version):
        entry: dict[str, object] = {"Subnet": config.subnet}
        subnet = parse_prefix(config.subnet or "").network
        ip_range = parse_prefix(config.ip_range).network if config.ip_range else None
        pool = user_pools.get((subnet, ip_range))
        if config.gateway:
            entry["Gateway"] = config.gateway
        elif predefined and pool is not None:
            entry["Gateway"] = str(pool.gateway)
        if config.ip_range:
            entry["IPRange"] = config.ip_range
        if config.aux_addresses:
            entry["AuxiliaryAddresses"] = dict(config.aux_addresses)
        entry["_user_subnet"] = True
        entry["_version"] = subnet.version
        shown.append(entry)
    configured = {config_version(c) for c in configs}
    for pool in pools:
        if pool.version not in configured:
            shown.append({"Subnet": str(pool.subnet), "Gateway": str(pool.gateway),
                          "_user_subnet": False, "_version": pool.version})
    return shown
