"""Neighbour solicitation (RFC 4861): IPv6's ARP, for probes and duplicate-address scans.

IPv6 asks who owns an address with an ICMPv6 Neighbour Solicitation (NS) sent to
the target's solicited-node multicast group (ff02::1:ffXX:XXXX, Ethernet
33:33:ff:XX:XX:XX); the owner answers with a Neighbour Advertisement (NA). Two
forms are sent here:

- an ordinary NS, from an address of the asking interface, with its link-layer
  address as an option: the owner answers with a solicited NA to that address
  (and learns the asker into its neighbour cache, as an ARP request would);
- a DAD-style NS (RFC 4862 5.4.2), from the unspecified address `::` and without
  a link-layer option: it claims nothing and teaches no cache, so it is IPv6's
  ARP probe; every owner answers with an NA to all-nodes (ff02::1).

The probe engine (its `ndp` protocol), the duplicate-address scan (ndpscan.py) and
the RFC 4862 DAD probe (rfc4862.py) build and read their packets here. Packets are
Scapy templates, built once and patched.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from functools import cache
from ipaddress import IPv6Address, IPv6Interface, IPv6Network

from emulator.probes.packets import ICMP6, IPV6_HEADER, checksum6

ETH_P_IPV6 = 0x86DD
NS, NA = 135, 136
OPT_SOURCE_LL, OPT_TARGET_LL = 1, 2
NA_ROUTER, NA_SOLICITED, NA_OVERRIDE = 0x80, 0x40, 0x20
UNSPECIFIED = IPv6Address("::")
ALL_NODES = IPv6Address("ff02::1")
SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_MULTICAST = 263, 1, 0
IFA_F_TENTATIVE, IFA_F_DADFAILED = 0x40, 0x08
SCOPE_GLOBAL, SCOPE_LINK = 0x00, 0x20

_ETHER = struct.Struct("!6s6sH")


def solicited_node(address: IPv6Address) -> IPv6Address:
    """ff02::1:ffXX:XXXX, the group whose members are the owners of `address`."""
    return IPv6Address(b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + address.packed[13:])


def multicast_mac(group: IPv6Address) -> bytes:
    """The Ethernet address an IPv6 multicast group is sent to (RFC 2464 7)."""
    return b"\x33\x33" + group.packed[12:]


@cache
def _ns_template(with_option: bool) -> bytes:
    from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6

    packet = IPv6(src="::", dst="ff02::1:ff00:0", hlim=255) / ICMPv6ND_NS(tgt="::")
    if with_option:
        packet = packet / ICMPv6NDOptSrcLLAddr(lladdr="00:00:00:00:00:00")
    return bytes(packet)


def solicitation(target: IPv6Address, mac: bytes, source: IPv6Address | None = None) -> bytes:
    """The IPv6 packet of an NS for `target`: ordinary from `source` (with `mac` as its
    source link-layer option), or DAD-style from `::` when `source` is None."""
    packet = bytearray(_ns_template(source is not None))
    src = source or UNSPECIFIED
    dst = solicited_node(target)
    packet[8:24] = src.packed
    packet[24:40] = dst.packed
    body = packet[IPV6_HEADER:]
    body[8:24] = target.packed
    if source is not None:
        body[26:32] = mac
    struct.pack_into("!H", body, 2, 0)
    struct.pack_into("!H", body, 2, checksum6(src, dst, ICMP6, bytes(body)))
    packet[IPV6_HEADER:] = body
    return bytes(packet)


def solicitation_frame(target: IPv6Address, mac: bytes,
                       source: IPv6Address | None = None) -> bytes:
    """`solicitation` in an Ethernet frame to the target's solicited-node group."""
    return (_ETHER.pack(multicast_mac(solicited_node(target)), mac, ETH_P_IPV6)
            + solicitation(target, mac, source))


@dataclass(frozen=True)
class NdpPacket:
    """A neighbour solicitation or advertisement as seen on the wire."""

    kind: int  # NS or NA
    source: IPv6Address  # the IPv6 source: `::` for a DAD probe
    destination: IPv6Address
    target: IPv6Address
    mac: str | None  # the link-layer option's address, else the frame's source if known
    flags: int = 0  # an NA's R/S/O bits

    @property
    def is_dad(self) -> bool:
        return self.kind == NS and self.source == UNSPECIFIED

    @property
    def solicited(self) -> bool:
        return bool(self.flags & NA_SOLICITED)


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def parse_ndp(packet: bytes, frame_mac: str | None = None) -> NdpPacket | None:
    """The NS or NA in an IPv6 packet (no extension headers, hop limit 255 as RFC 4861
    requires), else None; `frame_mac` is the Ethernet source, used where the packet
    carries no link-layer option."""
    if len(packet) < IPV6_HEADER + 24 or packet[0] >> 4 != 6 or packet[6] != ICMP6:
        return None
    if packet[7] != 255:
        return None
    body = packet[IPV6_HEADER:]
    kind = body[0]
    if kind not in (NS, NA) or body[1] != 0:
        return None
    mac = frame_mac
    wanted = OPT_SOURCE_LL if kind == NS else OPT_TARGET_LL
    offset = 24
    while offset + 8 <= len(body):
        option, units = body[offset], body[offset + 1]
        if units == 0:
            break
        if option == wanted:
            mac = mac_text(body[offset + 2:offset + 8])
        offset += 8 * units
    return NdpPacket(kind, IPv6Address(packet[8:24]), IPv6Address(packet[24:40]),
                     IPv6Address(body[8:24]), mac, body[4] if kind == NA else 0)


def parse_ndp_frame(frame: bytes) -> NdpPacket | None:
    """parse_ndp for an Ethernet frame."""
    if len(frame) < _ETHER.size or _ETHER.unpack_from(frame, 0)[2] != ETH_P_IPV6:
        return None
    return parse_ndp(frame[_ETHER.size:], mac_text(frame[6:12]))


# -- what a namespace has on its links ---------------------------------------------


@dataclass(frozen=True)
class Address6:
    """One line of /proc/net/if_inet6: an IPv6 address of an interface."""

    ifindex: int
    ifname: str
    interface: IPv6Interface
    scope: int
    flags: int

    @property
    def usable(self) -> bool:
        """Neither tentative (DAD still running) nor refused by DAD."""
        return not self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)


def parse_if_inet6(text: str) -> list[Address6]:
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6:
            continue
        address = IPv6Address(bytes.fromhex(fields[0]))
        found.append(Address6(int(fields[1], 16), fields[5],
                              IPv6Interface(f"{address}/{int(fields[2], 16)}"),
                              int(fields[3], 16), int(fields[4], 16)))
    return found


def addresses6(pid: int) -> list[Address6]:
    """The IPv6 addresses in the network namespace of `pid` (its /proc view: no
    namespace switch); none where IPv6 is off."""
    try:
        with open(f"/proc/{pid}/net/if_inet6") as handle:
            return parse_if_inet6(handle.read())
    except FileNotFoundError:
        return []


def tentative(pid: int) -> list[Address6]:
    """The addresses of the namespace of `pid` still running DAD (a real dockerd 20.10
    adds its bridge gateways without IFA_F_NODAD): not yet usable, never answering
    a neighbour solicitation. Addresses that failed DAD stay unusable and are left out."""
    return [a for a in addresses6(pid)
            if a.flags & IFA_F_TENTATIVE and not a.flags & IFA_F_DADFAILED]


@dataclass(frozen=True)
class OnLink6:
    ifindex: int
    ifname: str
    mac: bytes
    address: IPv6Address


def on_link_prefixes(pid: int, macs: dict[int, bytes]) -> list[tuple[OnLink6, IPv6Network]]:
    """Each usable non-link-local address of the namespace of `pid` with its on-link
    prefix, on interfaces with a MAC (`macs` by interface index)."""
    return [(OnLink6(a.ifindex, a.ifname, macs[a.ifindex], a.interface.ip), a.interface.network)
            for a in addresses6(pid)
            if a.usable and a.scope == SCOPE_GLOBAL and a.ifindex in macs
            and a.interface.network.prefixlen < 128]


def find_on_link6(prefixes, target: IPv6Address) -> OnLink6 | None:
    for on_link, network in prefixes:
        if target in network:
            return on_link
    return None


def join_group(sock: socket.socket, ifindex: int, group: IPv6Address) -> None:
    """Let `group`'s frames through the interface's multicast filter while the socket
    is open, where it has one (the interface need not have IPv6 on, so it may have
    joined no group itself); a join at the link layer, without an MLD report."""
    mreq = struct.pack("iHH8s", ifindex, PACKET_MR_MULTICAST, 6, multicast_mac(group))
    sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
