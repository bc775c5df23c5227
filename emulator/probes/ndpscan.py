"""Duplicate-address scan over IPv6: which addresses does more than one MAC advertise?

`conflicts.scan_conflicts` for IPv6 targets: a neighbour solicitation per target
(DAD-style from `::` unless told otherwise, see ndp.py) all sent first, then one
shared window collects the advertisements; an address advertised by more than one
MAC is a conflict. The result is the same ConflictScan an ARP scan gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv6Address

from emulator.probes.conflicts import (
    ConflictScan,
    link_socket,
    run_scan,
)
from emulator.probes.ndp import (
    ALL_NODES,
    ETH_P_IPV6,
    NA,
    SCOPE_GLOBAL,
    addresses6,
    join_group,
    parse_ndp_frame,
    solicitation_frame,
)


def _source_on(pid: int, interface: str, targets: Iterable[IPv6Address]) -> IPv6Address:
    """The address an ordinary NS on `interface` is sent from: one whose prefix holds
    the first target, else any usable one of the interface (link-local last)."""
    mine = [a for a in addresses6(pid) if a.ifname == interface and a.usable]
    first = next(iter(targets), None)
    for address in sorted(mine, key=lambda a: a.scope != SCOPE_GLOBAL):
        if first is not None and first in address.interface.network:
            return address.interface.ip
    if not mine:
        raise ValueError(f"{interface} has no usable IPv6 address to solicit from "
                         "(an ordinary neighbour solicitation needs one; a DAD-style one "
                         "does not)")
    return sorted(mine, key=lambda a: a.scope != SCOPE_GLOBAL)[0].interface.ip


def scan_conflicts6(pid: int, interface: str, targets: Iterable[IPv6Address | str],
                    window: float = 0.2, rounds: int = 1, capture: bool = False,
                    dad: bool = True) -> ConflictScan:
    """Solicit every target (an IPv6Address or its text) from `interface` in the
    namespace of `pid` and report each address that more than one MAC advertises.

    `dad` (the default) sends DAD-style NS from `::`, IPv6's ARP probe: owners answer
    to all-nodes and learn nothing; otherwise ordinary NS from an address of the
    interface. `rounds` and `capture` are as for `conflicts.scan_conflicts`; every
    NA for a target counts (solicited or not, so unsolicited NAs an owner sends
    meanwhile, as dockerd 28 does after configuring an address, count too).
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    targets = tuple(dict.fromkeys(IPv6Address(target) for target in targets))
    wanted = set(targets)
    source = None if dad else _source_on(pid, interface, targets)

    def answer(frame: bytes) -> tuple[IPv6Address, str] | None:
        packet = parse_ndp_frame(frame)
        if packet is None or packet.kind != NA or packet.target not in wanted:
            return None
        return packet.target, packet.mac or "?"

    with link_socket(pid, interface, ETH_P_IPV6) as (sock, mac, ifindex):
        join_group(sock, ifindex, ALL_NODES)
        probes = [solicitation_frame(target, mac, source) for target in targets]
        return run_scan(sock, interface, targets, probes, window, rounds, capture, answer)
