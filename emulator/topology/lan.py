"""The emulated physical LAN: its subnet, router, DHCP pool, LAN hosts and Docker hosts.

Docker hosts join the LAN through a second NIC; each gets the first free address from
.11 up (then .1 to .10) that is neither the router's, a LAN host's, nor in the DHCP pool. LAN hosts
without an address take a DHCP lease. A fixed address inside the DHCP pool is allowed:
it is one way to stage a duplicate address on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network
from itertools import chain
from typing import Any

from .addresses import parse_ipv4_address, parse_ipv4_network
from .errors import ProblemLog
from .model import LAN_ROUTER_NAME, OUTSIDE_HOST_NAME, DhcpSpec, LanHostSpec, LanSpec

DEFAULT_SUBNET = "198.51.100.0/24"
DEFAULT_POOL = (100, 199)
DOCKER_HOST_OFFSET = 11
LONGEST_PREFIX = 29


def plan_lan(raw: Mapping[str, Any], docker_hosts: Iterable[str],
             underlay: IPv4Network | None, log: ProblemLog) -> LanSpec | None:
    """The resolved LAN; None when the topology has none or it has problems."""
    if "lan" not in raw:
        return None
    lan: Mapping[str, Any] = raw["lan"]
    docker_hosts = list(docker_hosts)
    subnet = _subnet(lan.get("subnet", DEFAULT_SUBNET), underlay, log)
    hosts = _hosts(lan.get("hosts", {}), docker_hosts, subnet, log)
    if subnet is None:
        return None
    router = _router(lan.get("router"), subnet, log)
    dhcp = _dhcp(lan.get("dhcp", {}), subnet, router, log)
    if router is None or hosts is None or dhcp is None:
        return None
    taken = {router, *(h.address for h in hosts if h.address is not None)}
    for host in hosts:
        if host.address == router:
            log.report(("lan", "hosts", host.name, "address"),
                       f"{router} is the router's address")
    addresses = _docker_host_addresses(docker_hosts, subnet, taken, dhcp, log)
    if addresses is None:
        return None
    return LanSpec(subnet, router, lan.get("mode", "promiscuous"), dhcp, hosts, addresses)


def _subnet(text: str, underlay: IPv4Network | None, log: ProblemLog) -> IPv4Network | None:
    path = ("lan", "subnet")
    subnet = parse_ipv4_network(text, path, log)
    if subnet is None:
        return None
    if subnet.prefixlen > LONGEST_PREFIX:
        log.report(path, f"/{subnet.prefixlen} leaves no room for a router, hosts and a pool",
                   allowed=[f"a prefix length of /{LONGEST_PREFIX} or shorter"])
        return None
    if underlay is not None and subnet.overlaps(underlay):
        log.report(path, f"{subnet} overlaps the underlay subnet {underlay}",
                   allowed=["a LAN subnet apart from the underlay's"])
        return None
    return subnet


def _in_subnet(address: IPv4Address, subnet: IPv4Network, path: tuple[str, ...],
               log: ProblemLog) -> bool:
    if subnet.network_address < address < subnet.broadcast_address:
        return True
    first, last = subnet.network_address + 1, subnet.broadcast_address - 1
    log.report(path, f"{address} is not a usable address of the LAN subnet {subnet}",
               allowed=[f"{first} to {last}"])
    return False


def _router(text: str | None, subnet: IPv4Network, log: ProblemLog) -> IPv4Address | None:
    if text is None:
        return subnet.network_address + 1
    path = ("lan", "router")
    router = parse_ipv4_address(text, path, log)
    return router if router is not None and _in_subnet(router, subnet, path, log) else None


def _dhcp(raw: Mapping[str, Any], subnet: IPv4Network, router: IPv4Address | None,
          log: ProblemLog) -> DhcpSpec | None:
    path = ("lan", "dhcp", "range")
    lease = raw.get("lease", "1h")
    if "range" not in raw:
        first, last = (subnet.network_address + offset for offset in DEFAULT_POOL)
        if last >= subnet.broadcast_address:
            log.report(("lan", "dhcp"), f"the default pool .100-.199 does not fit in {subnet}",
                       allowed=["give dhcp.range"])
            return None
        if router is not None and first <= router <= last:
            log.report(("lan", "dhcp"), f"the default pool .100-.199 holds the router's "
                       f"address {router}", allowed=["give dhcp.range", "another lan.router"])
            return None
        return DhcpSpec(first, last, lease)
    first_text, _, last_text = raw["range"].partition("-")
    first = parse_ipv4_address(first_text, path, log)
    last = parse_ipv4_address(last_text, path, log)
    if first is None or last is None:
        return None
    if not (_in_subnet(first, subnet, path, log) and _in_subnet(last, subnet, path, log)):
        return None
    if first > last:
        log.report(path, f"the pool starts at {first}, after its end {last}")
        return None
    pool = DhcpSpec(first, last, lease)
    if router is not None and router in pool:
        log.report(path, f"the pool holds the router's address {router}")
        return None
    return pool


def _hosts(raw: Mapping[str, Mapping[str, Any]], docker_hosts: list[str],
           subnet: IPv4Network | None, log: ProblemLog) -> tuple[LanHostSpec, ...] | None:
    hosts: list[LanHostSpec] = []
    seen: dict[IPv4Address, str] = {}
    ok = True
    for name, spec in raw.items():
        path = ("lan", "hosts", name)
        if name in docker_hosts or name in (OUTSIDE_HOST_NAME, LAN_ROUTER_NAME):
            what = "a Docker host" if name in docker_hosts else f"the {name} host"
            log.report(path, f"{name!r} is already the name of {what}")
            ok = False
            continue
        address = None
        if "address" in spec:
            address = parse_ipv4_address(spec["address"], (*path, "address"), log)
            if address is None or subnet is None:
                ok = False
                continue
            if not _in_subnet(address, subnet, (*path, "address"), log):
                ok = False
                continue
            if address in seen:
                log.report((*path, "address"), f"{address} is already LAN host {seen[address]!r}")
                ok = False
                continue
            seen[address] = name
        hosts.append(LanHostSpec(name, address))
    return tuple(hosts) if ok else None


def _docker_host_addresses(names: list[str], subnet: IPv4Network, taken: set[IPv4Address],
                           dhcp: DhcpSpec, log: ProblemLog) -> dict[str, IPv4Address] | None:
    last = subnet.num_addresses - 2
    offsets = chain(range(DOCKER_HOST_OFFSET, last + 1),
                    range(1, min(DOCKER_HOST_OFFSET, last + 1)))
    free = (
        subnet.network_address + offset for offset in offsets
        if subnet.network_address + offset not in taken
        and subnet.network_address + offset not in dhcp
    )
    addresses: dict[str, IPv4Address] = {}
    for name in names:
        address = next(free, None)
        if address is None:
            log.report(("lan", "subnet"), f"no LAN address left in {subnet} for Docker host "
                       f"{name!r}", allowed=["a wider LAN subnet", "a smaller DHCP pool"])
            return None
        addresses[name] = address
    return addresses
