"""RFC 5227 mode: check ONE address for conflicts the way a host does before using it.

The fast scan (conflicts.py) asks once and listens briefly; a real host waits a
random moment, probes PROBE_NUM times at random intervals and listens
ANNOUNCE_WAIT after the last probe, so it also catches owners that are slow or
lose a frame, and rivals probing for the same address at the same time. This
replays that schedule, with the timings injectable so tests can shrink them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING

from emulator.fabric import readiness
from emulator.probes.conflicts import (
    OP_REPLY,
    OP_REQUEST,
    ArpPacket,
    arp_socket,
    mac_text,
    parse_arp,
    probe_frame,
    receive,
)
from emulator.probes.model import family_of, parse_address

if TYPE_CHECKING:
    from emulator.probes.rfc4862 import Timings6


@dataclass(frozen=True)
class Timings:
    """RFC 5227 section 1.1 constants, in seconds."""

    probe_wait: float = 1.0
    probe_num: int = 3
    probe_min: float = 1.0
    probe_max: float = 2.0
    announce_wait: float = 2.0

    def __post_init__(self) -> None:
        if self.probe_num < 1:
            raise ValueError("probe_num must be at least 1")
        if not 0 <= self.probe_min <= self.probe_max:
            raise ValueError("need 0 <= probe_min <= probe_max")
        if self.probe_wait < 0 or self.announce_wait < 0:
            raise ValueError("probe_wait and announce_wait cannot be negative")


@dataclass(frozen=True)
class DadEvent:
    at: float
    # "probe-sent" (ours), or what showed the conflict: arp-request|arp-reply|arp-probe
    # for IPv4, na|dad-ns for IPv6 (rfc4862.py)
    kind: str
    mac: str


@dataclass(frozen=True)
class DadResult:
    address: IPv4Address | IPv6Address
    conflict: bool
    macs: tuple[str, ...]
    probes_sent: int
    elapsed: float
    events: tuple[DadEvent, ...]

    @property
    def family(self) -> str:
        """"ipv4" (RFC 5227, ARP) or "ipv6" (RFC 4862, neighbour solicitation)."""
        return family_of(self.address)


def probe_schedule(timings: Timings, rng: random.Random) -> tuple[tuple[float, ...], float]:
    """When each probe goes out and when listening ends, in seconds from the start."""
    at = rng.uniform(0, timings.probe_wait)
    sends = [at]
    for _ in range(timings.probe_num - 1):
        at += rng.uniform(timings.probe_min, timings.probe_max)
        sends.append(at)
    return tuple(sends), at + timings.announce_wait


def conflict_kind(packet: ArpPacket, address: IPv4Address, ours: str) -> str | None:
    """What makes `packet` a conflict for `address` (RFC 5227 2.1.1), or None."""
    if packet.sender_mac == ours:
        return None
    if packet.sender_ip == address:
        return {OP_REQUEST: "arp-request", OP_REPLY: "arp-reply"}.get(packet.op,
                                                                     f"arp-op-{packet.op}")
    if packet.is_probe and packet.target_ip == address:
        return "arp-probe"
    return None


def probe_address(pid: int, interface: str, address: IPv4Address | IPv6Address | str,
                  timings: Timings | Timings6 | None = None, rng: random.Random | None = None,
                  stop_on_conflict: bool = False) -> DadResult:
    """Probe `address` from `interface` in the namespace of `pid` on RFC 5227's schedule.

    Listens from the start to ANNOUNCE_WAIT after the last probe and collects every
    conflicting MAC, unless `stop_on_conflict`, which returns at the first one.
    `address` is an IPv4Address or its text; an IPv6 one is checked by RFC 4862's
    DAD instead (rfc4862.probe_address6, its default timings unless `timings` is a
    Timings6).
    """
    address = parse_address(address)
    if address.version == 6:
        from emulator.probes import rfc4862

        six = timings if isinstance(timings, rfc4862.Timings6) else None
        return rfc4862.probe_address6(pid, interface, address, six, rng, stop_on_conflict)
    address = IPv4Address(address)
    sends, end = probe_schedule(timings or Timings(), rng or random.Random())
    with arp_socket(pid, interface) as (sock, raw_mac):
        ours = mac_text(raw_mac)

        def conflict(frame: bytes) -> tuple[str, str] | None:
            packet = parse_arp(frame)
            kind = conflict_kind(packet, address, ours) if packet else None
            return (kind, packet.sender_mac) if kind and packet else None

        return run_schedule(sock, address, probe_frame(raw_mac, address), ours, sends, end,
                            stop_on_conflict, conflict)


def run_schedule(sock, address: IPv4Address | IPv6Address, probe: bytes, ours: str,
                 sends: tuple[float, ...], end: float, stop_on_conflict: bool,
                 conflict: Callable[[bytes], tuple[str, str] | None]) -> DadResult:
    """Send `probe` at each time of `sends` (seconds from now) and listen until `end`,
    collecting every frame `conflict` names (kind, MAC): the probing both RFC 5227
    and RFC 4862 (rfc4862.py) do, each with its own frames and schedule."""
    events: list[DadEvent] = []
    macs: dict[str, None] = {}
    probes_sent = 0
    started = time.perf_counter()
    for until in (*sends, end):
        while not (stop_on_conflict and macs):
            remaining = started + until - time.perf_counter()
            if remaining <= 0 or not readiness.readable(sock, remaining):
                break
            for at, frame in receive(sock, started):
                found = conflict(frame)
                if found:
                    events.append(DadEvent(at, found[0], found[1]))
                    macs.setdefault(found[1])
        if stop_on_conflict and macs or probes_sent == len(sends):
            break
        sock.send(probe)
        events.append(DadEvent(time.perf_counter() - started, "probe-sent", ours))
        probes_sent += 1
    elapsed = time.perf_counter() - started
    return DadResult(address, bool(macs), tuple(macs), probes_sent, elapsed, tuple(events))
