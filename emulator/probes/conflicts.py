"""Duplicate-address scan: which addresses does more than one MAC answer for?

Two endpoints given the same address (an IPAM bug, a static address inside a
pool, a MACVLAN sharing a LAN with a real host) break each other silently. RFC
5227's ARP probe asks for an address without claiming one: sender IP 0.0.0.0, so
no listener learns anything into its ARP cache. Every owner answers, so counting
the distinct MACs that answer per address finds conflicts.

As the probe engine does, all probes go out first, then one shared window
collects the replies; a scan costs one window whatever the number of targets.
IPv6 targets are asked with neighbour solicitations instead (probes/ndpscan.py), and
the scan reads the same: answers, conflicts, frames.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from emulator.fabric import readiness
from emulator.fabric.netns import Namespace
from emulator.probes.engine import refuse_machine_namespace
from emulator.probes.model import family_of, parse_address

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER = 1
OP_REQUEST, OP_REPLY = 1, 2
BROADCAST = b"\xff" * 6
ZERO_MAC = b"\0" * 6
UNSPECIFIED = IPv4Address(0)
DRAIN_EVERY = 16  # probes sent between reads of the replies already in

_ETHER = struct.Struct("!6s6sH")
_ARP = struct.Struct("!HHBBH6s4s6s4s")


@dataclass(frozen=True)
class ArpPacket:
    op: int
    sender_mac: str
    sender_ip: IPv4Address
    target_mac: str
    target_ip: IPv4Address

    @property
    def is_probe(self) -> bool:
        return self.op == OP_REQUEST and self.sender_ip == UNSPECIFIED


@dataclass(frozen=True)
class Answer:
    address: IPv4Address | IPv6Address
    mac: str
    at: float


@dataclass(frozen=True)
class Conflict:
    address: IPv4Address | IPv6Address
    macs: tuple[str, ...]
    detected_at: float


@dataclass(frozen=True)
class ConflictScan:
    interface: str
    targets: tuple[IPv4Address | IPv6Address, ...]
    answers: tuple[Answer, ...]
    conflicts: tuple[Conflict, ...]
    send_seconds: float
    window: float
    frames: list[tuple[float, bytes]]

    @property
    def family(self) -> str:
        """"ipv4" (ARP probes) or "ipv6" (neighbour solicitations)."""
        return family_of(self.targets[0]) if self.targets else "ipv4"

    def owners(self) -> dict[IPv4Address | IPv6Address, set[str]]:
        found: dict[IPv4Address, set[str]] = {}
        for answer in self.answers:
            found.setdefault(answer.address, set()).add(answer.mac)
        return found

    @property
    def first_detection(self) -> float | None:
        return min((c.detected_at for c in self.conflicts), default=None)

    @property
    def last_detection(self) -> float | None:
        return max((c.detected_at for c in self.conflicts), default=None)


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def probe_frame(mac: bytes, target: IPv4Address) -> bytes:
    """An Ethernet-broadcast ARP probe (RFC 5227 2.1.1) for `target` from `mac`."""
    return _ETHER.pack(BROADCAST, mac, ETH_P_ARP) + _ARP.pack(
        ARPHRD_ETHER, ETH_P_IP, 6, 4, OP_REQUEST, mac, UNSPECIFIED.packed, ZERO_MAC,
        target.packed)


def parse_arp(frame: bytes) -> ArpPacket | None:
    """The IPv4-over-Ethernet ARP packet in an Ethernet frame, else None."""
    if len(frame) < _ETHER.size + _ARP.size:
        return None
    if _ETHER.unpack_from(frame, 0)[2] != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _ARP.unpack_from(frame, _ETHER.size)
    if (htype, ptype, hlen, plen) != (ARPHRD_ETHER, ETH_P_IP, 6, 4):
        return None
    return ArpPacket(op, mac_text(sha), IPv4Address(spa), mac_text(tha), IPv4Address(tpa))


def find_conflicts(answers: Iterable[Answer]) -> tuple[Conflict, ...]:
    """Addresses answered by more than one MAC, detected when the second MAC arrived."""
    macs: dict[IPv4Address | IPv6Address, list[str]] = {}
    detected: dict[IPv4Address | IPv6Address, float] = {}
    for answer in sorted(answers, key=lambda a: a.at):
        seen = macs.setdefault(answer.address, [])
        if answer.mac in seen:
            continue
        seen.append(answer.mac)
        if len(seen) == 2:
            detected[answer.address] = answer.at
    return tuple(Conflict(address, tuple(macs[address]), at)
                 for address, at in sorted(detected.items(), key=lambda item: item[1]))


@contextmanager
def arp_socket(pid: int, interface: str, ethertype: int = ETH_P_ARP
               ) -> Iterator[tuple[socket.socket, bytes]]:
    """An AF_PACKET socket on `interface` in the namespace of `pid` for frames of
    `ethertype` (ARP unless told), and that interface's MAC."""
    with link_socket(pid, interface, ethertype) as (sock, mac, _):
        yield sock, mac


@contextmanager
def link_socket(pid: int, interface: str, ethertype: int
                ) -> Iterator[tuple[socket.socket, bytes, int]]:
    """arp_socket, with the interface's index too. Closed off the caller's path: each
    close waits for an RCU grace period (about 12 ms)."""
    ns = Namespace.of_pid(pid)
    try:
        refuse_machine_namespace(ns)
        with ns.entered():
            # Protocol 0 until bound: the socket sees no other interface's frames meanwhile.
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            try:
                sock.bind((interface, ethertype))
                index = socket.if_nametoindex(interface)
            except OSError as exc:
                sock.close()
                raise OSError(exc.errno, f"cannot bind to {interface!r} in the "
                                         f"namespace of pid {pid}: {exc.strerror}") from exc
    finally:
        ns.close()
    try:
        _, _, _, hatype, mac = sock.getsockname()
        if hatype != ARPHRD_ETHER:
            raise ValueError(f"{interface} is not an Ethernet interface")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        yield sock, mac, index
    finally:
        threading.Thread(target=sock.close, daemon=True).start()


def receive(sock: socket.socket, started: float) -> Iterator[tuple[float, bytes]]:
    """Every frame waiting on `sock` that the interface received (not sent), with its
    time since `started` (when it was read: the scan reads between batches of probes,
    so a reply is stamped at most one batch late)."""
    while True:
        try:
            frame, address = sock.recvfrom(2048, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        if address[2] != socket.PACKET_OUTGOING:
            yield time.perf_counter() - started, frame


def scan_conflicts(pid: int, interface: str,
                   targets: Iterable[IPv4Address | IPv6Address | str],
                   window: float = 0.2, rounds: int = 1,
                   capture: bool = False) -> ConflictScan:
    """ARP-probe every target (an IPv4Address or its text, "10.0.0.5") from `interface`
    in the namespace of `pid` and report each address that more than one MAC answers
    for. IPv6 targets ("fd00:1::5") get DAD-style neighbour solicitations instead
    (ndp.scan_conflicts6); one scan takes one family.

    `rounds` > 1 sends the whole set again, back to back, to survive a lost frame;
    `capture` keeps every frame sent and received, stamped in wall-clock seconds.
    The scanning namespace never answers its own probes, so a target it owns shows
    only the other owners: scan from a namespace that owns none of the targets, or
    check an address of one's own with rfc5227.probe_address.
    """
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    parsed = tuple(dict.fromkeys(parse_address(target) for target in targets))
    if {a.version for a in parsed} == {6}:
        from emulator.probes.ndpscan import scan_conflicts6

        return scan_conflicts6(pid, interface, parsed, window, rounds, capture)
    if any(a.version == 6 for a in parsed):
        raise ValueError("one scan takes one address family: scan the IPv4 and the IPv6 "
                         "targets apart")
    targets = tuple(IPv4Address(target) for target in parsed)
    wanted = set(targets)

    def answer(frame: bytes) -> tuple[IPv4Address, str] | None:
        packet = parse_arp(frame)
        if packet is None or packet.op != OP_REPLY or packet.sender_ip not in wanted:
            return None
        return packet.sender_ip, packet.sender_mac

    with arp_socket(pid, interface) as (sock, mac):
        probes = [probe_frame(mac, target) for target in targets]
        return run_scan(sock, interface, targets, probes, window, rounds, capture, answer)


def run_scan(sock, interface: str, targets: tuple, probes: list[bytes], window: float,
             rounds: int, capture: bool,
             answer: Callable[[bytes], tuple[IPv4Address | IPv6Address, str] | None]
             ) -> ConflictScan:
    """Send `probes` `rounds` times over `sock`, reading the answers already in every
    DRAIN_EVERY probes, then keep reading them as they come until `window` seconds
    after the last probe. `answer` names the (address, MAC) a frame answers for, or
    None; `capture` keeps every frame sent and received, stamped in wall-clock
    seconds. Every neighbour scan (ARP here, NDP in ndpscan) is run so."""
    frames: list[tuple[float, bytes]] = []
    answers: dict[tuple[IPv4Address | IPv6Address, str], Answer] = {}
    wall = time.time()
    started = time.perf_counter()

    def drain() -> None:
        for at, frame in receive(sock, started):
            if capture:
                frames.append((wall + at, frame))
            found = answer(frame)
            if found is not None:
                answers.setdefault(found, Answer(found[0], found[1], at))

    for _ in range(rounds):
        for index, probe in enumerate(probes):
            sock.send(probe)
            if capture:
                frames.append((wall + time.perf_counter() - started, probe))
            if index % DRAIN_EVERY == DRAIN_EVERY - 1:
                drain()
    send_seconds = time.perf_counter() - started
    deadline = time.perf_counter() + window
    while (remaining := deadline - time.perf_counter()) > 0:
        if not readiness.readable(sock, remaining):
            break
        drain()
    found = tuple(answers.values())
    return ConflictScan(interface, targets, found, find_conflicts(found), send_seconds,
                        window, frames)
