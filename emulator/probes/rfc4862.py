"""RFC 4862 mode: check ONE IPv6 address for a duplicate the way a host does (DAD).

The IPv6 counterpart of rfc5227.probe_address. Before using an address a host
waits a random moment (up to MAX_RTR_SOLICITATION_DELAY), sends
DupAddrDetectTransmits neighbour solicitations from `::` to the address's
solicited-node group, RetransTimer apart, and listens RetransTimer after the last
(RFC 4862 5.4). The address is a duplicate if, meanwhile, another MAC advertises it
(an NA for it, 5.4.4) or solicits it from `::` too (another host running DAD for
it at the same moment, 5.4.3). An ordinary NS for it from a used address is
address resolution, not a conflict.

Docker gives containers their static IPv6 addresses with IFA_F_NODAD: no DAD is
run for them, so a duplicate goes unnoticed unless something like this probe asks.
The result is rfc5227's DadResult (its address an IPv6Address), timings injectable
so tests can shrink them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from ipaddress import IPv6Address

from emulator.probes.conflicts import link_socket, mac_text
from emulator.probes.ndp import (
    ALL_NODES,
    ETH_P_IPV6,
    NA,
    NdpPacket,
    join_group,
    parse_ndp_frame,
    solicitation_frame,
    solicited_node,
)
from emulator.probes.rfc5227 import DadResult, run_schedule


@dataclass(frozen=True)
class Timings6:
    """RFC 4862 / RFC 4861 defaults, in seconds (Linux: `dad_transmits` 1,
    `retrans_time_ms` 1000, `rtr_solicit_delay` 1 s)."""

    max_delay: float = 1.0  # MAX_RTR_SOLICITATION_DELAY
    transmits: int = 1  # DupAddrDetectTransmits
    retrans: float = 1.0  # RetransTimer

    def __post_init__(self) -> None:
        if self.transmits < 1:
            raise ValueError("transmits must be at least 1")
        if self.max_delay < 0 or self.retrans < 0:
            raise ValueError("max_delay and retrans cannot be negative")


def probe_schedule6(timings: Timings6, rng: random.Random) -> tuple[tuple[float, ...], float]:
    """When each solicitation goes out and when listening ends, in seconds from the start."""
    first = rng.uniform(0, timings.max_delay)
    sends = tuple(first + i * timings.retrans for i in range(timings.transmits))
    return sends, sends[-1] + timings.retrans


def conflict_kind6(packet: NdpPacket, address: IPv6Address, ours: str) -> str | None:
    """What makes `packet` a duplicate of `address` (RFC 4862 5.4.3, 5.4.4), or None:
    `na` (another node advertises it) or `dad-ns` (another node probes for it too)."""
    if packet.target != address or packet.mac == ours:
        return None
    if packet.kind == NA:
        return "na"
    if packet.is_dad:
        return "dad-ns"
    return None


def probe_address6(pid: int, interface: str, address: IPv6Address | str,
                   timings: Timings6 | None = None, rng: random.Random | None = None,
                   stop_on_conflict: bool = False) -> DadResult:
    """Run DAD for `address` from `interface` in the namespace of `pid`, without
    configuring it: listen from the start to RetransTimer after the last solicitation
    and collect every conflicting MAC, unless `stop_on_conflict`, which returns at
    the first one. `address` is an IPv6Address or its text."""
    address = IPv6Address(address)
    sends, end = probe_schedule6(timings or Timings6(), rng or random.Random())
    with link_socket(pid, interface, ETH_P_IPV6) as (sock, raw_mac, ifindex):
        # Advertisements answering a DAD probe go to all-nodes; rivals' probes to the
        # solicited-node group: both must pass the interface's multicast filter.
        join_group(sock, ifindex, ALL_NODES)
        join_group(sock, ifindex, solicited_node(address))
        ours = mac_text(raw_mac)

        def conflict(frame: bytes) -> tuple[str, str] | None:
            packet = parse_ndp_frame(frame)
            kind = conflict_kind6(packet, address, ours) if packet else None
            return (kind, packet.mac) if kind and packet and packet.mac else None

        return run_schedule(sock, address, solicitation_frame(address, raw_mac), ours, sends,
                            end, stop_on_conflict, conflict)
