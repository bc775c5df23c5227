"""The probe engine: send every probe, then wait one shared window for replies.

Per source namespace it opens, while the thread is inside that namespace, a raw
IPv4 socket that sends the prebuilt packets (the kernel routes them, resolving
neighbours as for any packet) and an AF_PACKET socket that sees every IPv4
packet arriving there; where IPv6 targets are probed, the same pair for IPv6
(whose AF_PACKET socket also sends the neighbour solicitations of the `ndp`
protocol and sees the advertisements). Sockets keep their namespace after the
thread leaves it. Replies are matched by the index each probe carries, so no
per-probe state is needed beyond a list.

A target's address family decides the packets: ICMP echo or ICMPv6 echo, TCP and
UDP over IPv4 or IPv6; `arp` asks IPv4 targets only and `ndp` IPv6 ones only (a
protocol that does not apply to a target is not sent to it and gets no result).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from emulator.fabric import readiness
from emulator.fabric.netns import Namespace, machine_net_inode
from emulator.fabric.rtnl import Rtnl
from emulator.probes import arp, ndp
from emulator.probes.model import (
    ARP,
    IPV6,
    NDP,
    PROTOCOLS,
    ProbeResult,
    ProbeTarget,
    Verdict,
    applies,
)
from emulator.probes.packets import (
    MAX_TAGS,
    PORT_UNREACHABLE,
    build,
    parse_reply,
    template,
    template6,
)

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
KNOWN_PROTOCOLS = (*PROTOCOLS, ARP, NDP)


class MachineNamespaceRefused(RuntimeError):
    pass


def refuse_machine_namespace(ns: Namespace) -> None:
    """No probe ever leaves from the machine's own network namespace."""
    if ns.inode == machine_net_inode():
        raise MachineNamespaceRefused(
            "refusing to send probes from the machine's own network namespace")


@dataclass
class _Source:
    name: str
    pid: int
    tag: int
    sender: socket.socket | None = None
    receiver: socket.socket | None = None
    arp: socket.socket | None = None
    sender6: socket.socket | None = None
    receiver6: socket.socket | None = None  # also sends the neighbour solicitations
    on_link: list = field(default_factory=list)
    on_link6: list = field(default_factory=list)
    probes: list[tuple[ProbeTarget, str, float]] = field(default_factory=list)
    results: dict[int, ProbeResult] = field(default_factory=dict)
    arp_waiting: dict[str, list[int]] = field(default_factory=dict)
    ndp_waiting: dict[str, list[int]] = field(default_factory=dict)

    def result(self, k: int, verdict: Verdict, rtt_ms: float | None, evidence: str) -> None:
        target, protocol, _ = self.probes[k]
        self.results[k] = ProbeResult(self.name, target.name, protocol, verdict, rtt_ms,
                                      evidence, target.family)

    def close(self) -> None:
        for sock in (self.sender, self.receiver, self.arp, self.sender6, self.receiver6):
            if sock is not None:
                sock.close()


def _close_later(sources: list[_Source]) -> None:
    """Close the sockets off the caller's path: each AF_PACKET close waits for an RCU
    grace period in the kernel (about 10 ms), which adds up over a hundred sources."""
    thread = threading.Thread(target=lambda: [s.close() for s in sources], daemon=True)
    thread.start()


def _net_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def _source_address(dst: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address | None:
    """The address the kernel would send from towards dst (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if dst.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((str(dst), 9))
        except OSError:
            return None
        chosen = probe.getsockname()[0]
        return IPv6Address(chosen) if dst.version == 6 else IPv4Address(chosen)


class ProbeEngine:
    """Probe ordered pairs of targets with ICMP, TCP SYN and UDP (and ARP, NDP)."""

    def __init__(self, window: float = 0.5, capture: bool = False) -> None:
        self.window = window
        self.sent = 0
        self.send_seconds = 0.0
        self.capture = capture
        self.captured: dict[str, list[tuple[float, bytes]]] = {}

    @staticmethod
    def prepare(protocols: Iterable[str] = PROTOCOLS) -> None:
        """Build the packet templates (imports Scapy): once per process, before timing."""
        for protocol in protocols:
            template(protocol)
            template6(protocol)

    def run(self, sources: Iterable[ProbeTarget], targets: Iterable[ProbeTarget],
            protocols: Iterable[str] = PROTOCOLS, first_tag: int = 0) -> list[ProbeResult]:
        """Probe from each source to each target with each protocol that applies to the
        target's family; sources are tagged from `first_tag` on."""
        targets = list(targets)
        protocols = [p for p in protocols if p in KNOWN_PROTOCOLS]
        self.prepare([p for p in protocols if p in PROTOCOLS])
        with_v6 = any(t.family == IPV6 for t in targets)
        opened: list[_Source] = []
        try:
            inodes = {t.pid: _net_inode(t.pid) for t in targets}
            for tag, src in enumerate(sources, first_tag):
                if tag > MAX_TAGS:
                    raise ValueError(f"at most {MAX_TAGS + 1} probe sources in one run")
                source = _Source(src.name, src.pid, tag)
                opened.append(source)
                self._open(source, ARP in protocols, with_v6, NDP in protocols)
                mine = _net_inode(src.pid)
                self._send(source, [t for t in targets if inodes[t.pid] != mine], protocols)
            self._collect(opened)
        finally:
            _close_later(opened)
        results: list[ProbeResult] = []
        for source in opened:
            for k, (target, protocol, _) in enumerate(source.probes):
                results.append(source.results.get(k) or ProbeResult(
                    source.name, target.name, protocol, Verdict.BLOCKED, None,
                    f"no reply within {self.window:.2f} s", target.family))
        return results

    def _open(self, source: _Source, with_arp: bool, with_v6: bool = False,
              with_ndp: bool = False) -> None:
        ns = Namespace.of_pid(source.pid)
        try:
            refuse_machine_namespace(ns)
            with ns.entered():
                source.receiver = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                                socket.htons(ETH_P_IP))
                source.receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
                source.receiver.setblocking(False)
                source.sender = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                                              socket.IPPROTO_RAW)
                source.sender.setblocking(False)
                if with_arp:
                    source.arp = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                               socket.htons(arp.ETH_P_ARP))
                    source.arp.setblocking(False)
                    with Rtnl() as rtnl:
                        source.on_link = arp.on_link_routes(rtnl)
                if with_v6:
                    self._open6(source, with_ndp)
        finally:
            ns.close()

    @staticmethod
    def _open6(source: _Source, with_ndp: bool) -> None:
        """The IPv6 pair, opened by a thread inside the source's namespace."""
        source.receiver6 = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                                         socket.htons(ndp.ETH_P_IPV6))
        source.receiver6.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        source.receiver6.setblocking(False)
        source.sender6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        source.sender6.setblocking(False)
        if with_ndp:
            with Rtnl() as rtnl:
                macs = {link.index: bytes(int(x, 16) for x in link.mac.split(":"))
                        for link in rtnl.links() if link.mac and link.name != "lo"}
            source.on_link6 = ndp.on_link_prefixes(source.pid, macs)

    def _send(self, source: _Source, targets: list[ProbeTarget], protocols: list[str]) -> None:
        ns = Namespace.of_pid(source.pid)
        try:
            with ns.entered():
                routes = {t.address: _source_address(t.address) for t in targets}
        finally:
            ns.close()
        started = time.perf_counter()
        for target in targets:
            src_ip = routes[target.address]
            for protocol in protocols:
                if not applies(protocol, target.family):
                    continue
                k = len(source.probes)
                if protocol == ARP:
                    self._send_arp(source, k, target)
                    continue
                if protocol == NDP:
                    self._send_ndp(source, k, target)
                    continue
                if src_ip is None:
                    source.probes.append((target, protocol, time.monotonic()))
                    source.result(k, Verdict.BLOCKED, None, "no route")
                    continue
                packet = build(protocol, src_ip, target.address, k, source.tag)
                source.probes.append((target, protocol, time.monotonic()))
                self._sendto(source, k, packet, target, protocol)
        self.send_seconds += time.perf_counter() - started

    def _send_arp(self, source: _Source, k: int, target: ProbeTarget) -> None:
        source.probes.append((target, ARP, time.monotonic()))
        on_link = arp.find_on_link(source.on_link, target.address)
        if on_link is None:
            source.result(k, Verdict.BLOCKED, None, "not on-link")
            return
        source.arp_waiting.setdefault(str(target.address), []).append(k)
        arp.send(source.arp, on_link, target.address)  # type: ignore[arg-type]
        self.sent += 1

    def _send_ndp(self, source: _Source, k: int, target: ProbeTarget) -> None:
        """An ordinary neighbour solicitation from the source's address on the target's
        prefix; reached when the target advertises itself."""
        source.probes.append((target, NDP, time.monotonic()))
        on_link = ndp.find_on_link6(source.on_link6, target.address)
        if on_link is None:
            source.result(k, Verdict.BLOCKED, None, "not on-link")
            return
        source.ndp_waiting.setdefault(str(target.address), []).append(k)
        group = ndp.multicast_mac(ndp.solicited_node(target.address))  # type: ignore[arg-type]
        packet = ndp.solicitation(target.address, on_link.mac,  # type: ignore[arg-type]
                                  on_link.address)
        source.receiver6.sendto(packet, (on_link.ifname, ndp.ETH_P_IPV6, 0, 0,  # type: ignore[union-attr]
                                         group))
        self.sent += 1

    def _sendto(self, source: _Source, k: int, packet: bytes, target: ProbeTarget,
                protocol: str) -> None:
        sender = source.sender6 if target.family == IPV6 else source.sender
        try:
            sender.sendto(packet, (str(target.address), 0))  # type: ignore[union-attr]
            self.sent += 1
        except BlockingIOError:
            readiness.ready(write=[sender], timeout=1.0)
            self._sendto(source, k, packet, target, protocol)
        except OSError as exc:
            verdict = Verdict.BLOCKED if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH,
                                                       errno.EPERM) else Verdict.ERROR
            source.result(k, verdict, None, f"send failed: {exc.strerror}")

    def write_pcaps(self, folder) -> list:
        """One pcap per source namespace (raw IP, v4 and v6: probes out, replies in)."""
        from emulator.probes.pcap import write_pcap

        written = []
        for name, packets in self.captured.items():
            path = folder / f"probes-{name.replace('/', '_')}.pcap"
            write_pcap(path, packets)
            written.append(path)
        return written

    def _collect(self, sources: list[_Source]) -> None:
        by_fd = {s.receiver.fileno(): s for s in sources}  # type: ignore[union-attr]
        by_fd.update({s.receiver6.fileno(): s for s in sources if s.receiver6 is not None})
        arp_fds = {s.arp.fileno(): s for s in sources if s.arp_waiting}  # type: ignore[union-attr]
        by_fd.update(arp_fds)
        pending = sum(len(s.probes) - len(s.results) for s in sources)
        deadline = time.monotonic() + self.window
        while pending > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            readable, _ = readiness.ready(list(by_fd), timeout=remaining)
            for fd in readable:
                source = by_fd[fd]
                if fd in arp_fds:
                    pending -= self._drain_arp(source)
                else:
                    six = source.receiver6 is not None and fd == source.receiver6.fileno()
                    pending -= self._drain(source, source.receiver6 if six else source.receiver)

    def _drain_arp(self, source: _Source) -> int:
        matched = 0
        while True:
            try:
                packet, _ = source.arp.recvfrom(2048)  # type: ignore[union-attr]
            except BlockingIOError:
                return matched
            reply = arp.parse_reply(packet)
            if reply is None:
                continue
            sender, mac = reply
            matched += self._link_answer(source, source.arp_waiting.pop(sender, []),
                                         f"arp-reply {mac}")

    @staticmethod
    def _link_answer(source: _Source, waiting: list[int], evidence: str) -> int:
        for k in waiting:
            _, _, sent_at = source.probes[k]
            source.result(k, Verdict.REACHED, round((time.monotonic() - sent_at) * 1000, 3),
                          evidence)
        return len(waiting)

    def _drain(self, source: _Source, sock: socket.socket | None) -> int:
        matched = 0
        while True:
            try:
                packet, address = sock.recvfrom(65535)  # type: ignore[union-attr]
            except BlockingIOError:
                return matched
            if self.capture:
                self.captured.setdefault(source.name, []).append((time.time(), packet))
            if address[2] == PACKET_OUTGOING:
                continue
            if source.ndp_waiting and packet[0] >> 4 == 6:
                advert = ndp.parse_ndp(packet, ndp.mac_text(address[4][:6]))
                if advert is not None and advert.kind == ndp.NA:
                    matched += self._link_answer(
                        source, source.ndp_waiting.pop(str(advert.target), []),
                        f"neighbour-advert {advert.mac}")
                    continue
            reply = parse_reply(packet)
            if reply is None:
                continue
            protocol, replier, tag, k, what = reply
            if tag != source.tag or not 0 <= k < len(source.probes) or k in source.results:
                continue
            target, sent_protocol, sent_at = source.probes[k]
            if sent_protocol != protocol:
                continue
            if target.family != (IPV6 if packet[0] >> 4 == 6 else "ipv4"):
                continue
            rtt = (time.monotonic() - sent_at) * 1000
            reached = replier == str(target.address) and not what.startswith("icmp") or (
                what in PORT_UNREACHABLE)
            verdict = Verdict.REACHED if reached else Verdict.BLOCKED
            source.result(k, verdict, round(rtt, 3), what)
            matched += 1
