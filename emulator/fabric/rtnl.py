"""A minimal rtnetlink client: the dozen messages the fabric needs, encoded by hand.

Each request is one sendmsg and one recv on a socket of the calling thread's
namespace (about 20 µs), where a general-purpose library costs a millisecond.
Messages and attribute numbers are those of <linux/rtnetlink.h>,
<linux/if_link.h> and <linux/if_addr.h>.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)

NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
NUD_PERMANENT, NUD_NOARP = 0x80, 0x40
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
NLM_F_DUMP = 0x300

IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_NET_NS_FD = 16, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
IFLA_BRPORT_STATE, IFLA_BRPORT_MODE = 1, 4
BR_STATE_FORWARDING = 3
VETH_INFO_PEER = 1
IFLA_MACVLAN_MODE = 1
IFLA_VXLAN_ID, IFLA_VXLAN_LEARNING, IFLA_VXLAN_PROXY, IFLA_VXLAN_PORT = 1, 7, 11, 15
IFLA_VXLAN_GROUP6 = 16
AF_BRIDGE = 7
NTF_SELF = 0x02
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}
IFLA_BR_FORWARD_DELAY, IFLA_BR_STP_STATE = 1, 5
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
IFA_F_NODAD, IFA_F_DADFAILED, IFA_F_TENTATIVE = 0x02, 0x08, 0x40
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN = 254
NDA_DST, NDA_LLADDR = 1, 2
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
NLA_F_NESTED = 0x8000
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")

_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NLHDR = struct.Struct("=IHHII")
_NDMSG = struct.Struct("=BxxxiHBB")


class NetlinkError(OSError):
    pass


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _nested(kind: int, *attrs: bytes) -> bytes:
    return _attr(kind | NLA_F_NESTED, b"".join(attrs))


def _str(kind: int, text: str) -> bytes:
    return _attr(kind, text.encode() + b"\0")


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=I", value))


def _mac(kind: int, mac: str) -> bytes:
    return _attr(kind, bytes(int(part, 16) for part in mac.split(":")))


def _ifinfo(index: int = 0, up: bool | None = None) -> bytes:
    flags = IFF_UP if up else 0
    change = IFF_UP if up is not None else 0
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def _addr_body(index: int, address: IPv4Interface | IPv6Interface, flags: int) -> bytes:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    packed = address.ip.packed
    body = _IFADDR.pack(family, address.network.prefixlen, flags, 0, index)
    body += _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
    return body


def _parse_attrs(data: bytes, offset: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        attrs[kind & ~NLA_F_NESTED] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return attrs


@dataclass(frozen=True)
class Route:
    """One IPv4 route of the main table: where to, through which gateway, out of which link."""

    destination: IPv4Network
    gateway: IPv4Address | None
    index: int | None


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    up: bool
    operstate: str
    master: int | None
    mtu: int | None
    mac: str | None
    port_state: int | None = None  # a bridge port's STP state (3: forwarding)
    lower_up: bool = False  # carrier (IFF_LOWER_UP)


def _port_state(linkinfo: bytes | None) -> int | None:
    if not linkinfo:
        return None
    info = _parse_attrs(linkinfo, 0)
    if info.get(IFLA_INFO_SLAVE_KIND, b"").rstrip(b"\0") != b"bridge":
        return None
    state = _parse_attrs(info.get(IFLA_INFO_SLAVE_DATA, b""), 0).get(IFLA_BRPORT_STATE)
    return state[0] if state else None


def _link_from(payload: bytes) -> Link:
    _, _, index, flags, _ = _IFINFO.unpack_from(payload, 0)
    attrs = _parse_attrs(payload, _IFINFO.size)
    name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
    state = attrs.get(IFLA_OPERSTATE)
    master = attrs.get(IFLA_MASTER)
    mtu = attrs.get(IFLA_MTU)
    mac = attrs.get(IFLA_ADDRESS)
    return Link(
        index=index,
        name=name,
        up=bool(flags & IFF_UP),
        operstate=OPERSTATES[state[0]] if state and state[0] < len(OPERSTATES) else "UNKNOWN",
        master=struct.unpack("=I", master)[0] if master else None,
        mtu=struct.unpack("=I", mtu)[0] if mtu else None,
        mac=":".join(f"{b:02x}" for b in mac) if mac else None,
        port_state=_port_state(attrs.get(IFLA_LINKINFO)),
        lower_up=bool(flags & IFF_LOWER_UP),
    )


class Rtnl:
    """One rtnetlink socket, bound to the namespace of the thread that opened it."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        """`sock`: a bound NETLINK_ROUTE socket to use instead of a new one (the unit
        tests pass a stand-in that records requests and plays replies)."""
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 socket.NETLINK_ROUTE)
            sock.bind((0, 0))
        self._sock = sock
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        self._seq += 1
        seq = self._seq
        header = _NLHDR.pack(_NLHDR.size + len(body), kind, NLM_F_REQUEST | flags, seq, 0)
        self._sock.send(header + body)
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self._sock.recv(1 << 20)
            offset = 0
            while offset + _NLHDR.size <= len(data):
                length, mtype, _, rseq, _ = _NLHDR.unpack_from(data, offset)
                payload = data[offset + _NLHDR.size : offset + length]
                offset += (length + 3) & ~3
                if rseq != seq:
                    continue
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload, 0)[0]
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    return replies
                if mtype == NLMSG_DONE:
                    return replies
                replies.append((mtype, payload))
                if not flags & NLM_F_DUMP and not flags & NLM_F_ACK:
                    return replies

    # -- links ---------------------------------------------------------------

    def links(self) -> list[Link]:
        return [_link_from(p) for t, p in self._request(RTM_GETLINK, NLM_F_DUMP, _ifinfo())
                if t == RTM_NEWLINK]

    def link(self, name: str) -> Link | None:
        try:
            replies = self._request(RTM_GETLINK, 0, _ifinfo() + _str(IFLA_IFNAME, name))
        except NetlinkError as exc:
            if exc.errno == errno_mod.ENODEV:
                return None
            raise
        return _link_from(replies[0][1]) if replies else None

    def add_bridge(self, name: str, mtu: int, mac: str | None = None) -> None:
        """A bridge, up, STP off; with `mac` its address is set and stays (without one,
        the kernel gives it its lowest port's, and all zeros when it has none)."""
        info = _nested(IFLA_LINKINFO, _str(IFLA_INFO_KIND, "bridge"),
                       _nested(IFLA_INFO_DATA, _u32(IFLA_BR_FORWARD_DELAY, 0),
                               _u32(IFLA_BR_STP_STATE, 0)))
        body = _ifinfo(up=True) + _str(IFLA_IFNAME, name) + _u32(IFLA_MTU, mtu)
        if mac:
            body += _mac(IFLA_ADDRESS, mac)
        body += info
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, body)

    def add_veth(self, name: str, master: int | None, mtu: int, peer_name: str,
                 peer_ns_fd: int, peer_mac: str | None) -> None:
        """A veth pair whose peer is born (down) inside the namespace of peer_ns_fd.

        Only this end comes up with the request: the kernel configures the peer
        before the pair is linked, when a veth cannot open yet.
        """
        peer = _ifinfo() + _str(IFLA_IFNAME, peer_name) + _u32(IFLA_MTU, mtu)
        peer += _u32(IFLA_NET_NS_FD, peer_ns_fd)
        if peer_mac:
            peer += _mac(IFLA_ADDRESS, peer_mac)
        info = _nested(IFLA_LINKINFO, _str(IFLA_INFO_KIND, "veth"),
                       _nested(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer)))
        body = _ifinfo(up=True) + _str(IFLA_IFNAME, name) + _u32(IFLA_MTU, mtu)
        if master is not None:
            body += _u32(IFLA_MASTER, master)
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, body + info)

    def add_macvlan(self, name: str, parent: int, mode: str, ns_fd: int, mac: str | None,
                    mtu: int | None) -> None:
        """A MACVLAN on `parent` (an index in this namespace), born down inside ns_fd's."""
        info = _nested(IFLA_LINKINFO, _str(IFLA_INFO_KIND, "macvlan"),
                       _nested(IFLA_INFO_DATA, _u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[mode])))
        body = _ifinfo() + _str(IFLA_IFNAME, name) + _u32(IFLA_LINK, parent)
        body += _u32(IFLA_NET_NS_FD, ns_fd)
        if mtu is not None:
            body += _u32(IFLA_MTU, mtu)
        if mac:
            body += _mac(IFLA_ADDRESS, mac)
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, body + info)

    def add_vxlan(self, name: str, vni: int, port: int, mtu: int, ns_fd: int,
                  ipv6: bool = False) -> None:
        """A VXLAN device whose UDP socket lives in this namespace, born (down) inside
        ns_fd's: no learning (peers are programmed), ARP answered from its neighbours.
        With `ipv6` its tunnels run over IPv6: group `::` makes the kernel open an IPv6
        socket, as Docker does for an IPv6 VTEP (libnetwork overlay, ov_utils.go)."""
        group6 = _attr(IFLA_VXLAN_GROUP6, bytes(16)) if ipv6 else b""
        data = _nested(IFLA_INFO_DATA, _u32(IFLA_VXLAN_ID, vni),
                       _attr(IFLA_VXLAN_PORT, struct.pack(">H", port)),
                       _attr(IFLA_VXLAN_LEARNING, b"\0"), _attr(IFLA_VXLAN_PROXY, b"\1"),
                       group6)
        info = _nested(IFLA_LINKINFO, _str(IFLA_INFO_KIND, "vxlan"), data)
        body = _ifinfo() + _str(IFLA_IFNAME, name) + _u32(IFLA_MTU, mtu)
        body += _u32(IFLA_NET_NS_FD, ns_fd)
        self._request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, body + info)

    def set_mac(self, name: str, mac: str) -> None:
        self._request(RTM_NEWLINK, NLM_F_ACK,
                      _ifinfo() + _str(IFLA_IFNAME, name) + _mac(IFLA_ADDRESS, mac))

    def set_master(self, name: str, master: int) -> None:
        self._request(RTM_NEWLINK, NLM_F_ACK,
                      _ifinfo(up=True) + _str(IFLA_IFNAME, name) + _u32(IFLA_MASTER, master))

    def fdb(self, index: int, mac: str, dst: IPv4Address | IPv6Address, add: bool) -> None:
        """Add (or delete) a VXLAN forwarding entry: frames to `mac` go to VTEP `dst`
        (an IPv6 VTEP only on a device made with ipv6)."""
        body = _NDMSG.pack(AF_BRIDGE, index, NUD_PERMANENT, NTF_SELF, 0)
        body += _mac(NDA_LLADDR, mac) + _attr(NDA_DST, dst.packed)
        if add:
            self._request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, body)
            return
        try:
            self._request(RTM_DELNEIGH, NLM_F_ACK, body)
        except NetlinkError as exc:
            if exc.errno != errno_mod.ENOENT:
                raise

    def set_up(self, name: str) -> None:
        self._request(RTM_NEWLINK, NLM_F_ACK, _ifinfo(up=True) + _str(IFLA_IFNAME, name))

    def set_down(self, name: str) -> None:
        self._request(RTM_NEWLINK, NLM_F_ACK, _ifinfo(up=False) + _str(IFLA_IFNAME, name))

    def set_hairpin(self, name: str, on: bool) -> None:
        """A bridge port's hairpin mode: frames may leave by the port they came in by."""
        info = _nested(IFLA_LINKINFO, _str(IFLA_INFO_SLAVE_KIND, "bridge"),
                       _nested(IFLA_INFO_SLAVE_DATA, _attr(IFLA_BRPORT_MODE, bytes([on]))))
        self._request(RTM_NEWLINK, NLM_F_ACK, _ifinfo() + _str(IFLA_IFNAME, name) + info)

    def delete(self, name: str) -> bool:
        try:
            self._request(RTM_DELLINK, NLM_F_ACK, _ifinfo() + _str(IFLA_IFNAME, name))
        except NetlinkError as exc:
            if exc.errno == errno_mod.ENODEV:
                return False
            raise
        return True

    # -- addresses and routes ------------------------------------------------

    def add_address(self, index: int, address: IPv4Interface | IPv6Interface,
                    nodad: bool = False) -> None:
        """Add an address; an IPv6 one with `nodad` is usable at once (IFA_F_NODAD, as
        Docker adds the addresses it assigns), without duplicate address detection."""
        self._request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                      _addr_body(index, address, IFA_F_NODAD if nodad else 0))

    def delete_address(self, index: int, address: IPv4Interface | IPv6Interface) -> None:
        self._request(RTM_DELADDR, NLM_F_ACK, _addr_body(index, address, 0))

    def addresses(self) -> list[tuple[int, IPv4Interface]]:
        """(interface index, address) of every IPv4 address in the namespace."""
        found = []
        for kind, payload in self._request(RTM_GETADDR, NLM_F_DUMP,
                                           _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)):
            if kind != RTM_NEWADDR:
                continue
            _, prefixlen, _, _, index = _IFADDR.unpack_from(payload, 0)
            local = _parse_attrs(payload, _IFADDR.size).get(IFA_LOCAL)
            if local:
                found.append((index, IPv4Interface(f"{IPv4Address(local)}/{prefixlen}")))
        return found

    def addresses6(self) -> list[tuple[int, IPv6Interface, int]]:
        """(interface index, address, IFA_F_* flags) of every IPv6 address."""
        found = []
        for kind, payload in self._request(RTM_GETADDR, NLM_F_DUMP,
                                           _IFADDR.pack(socket.AF_INET6, 0, 0, 0, 0)):
            if kind != RTM_NEWADDR:
                continue
            _, prefixlen, flags, _, index = _IFADDR.unpack_from(payload, 0)
            attrs = _parse_attrs(payload, _IFADDR.size)
            local = attrs.get(IFA_ADDRESS) or attrs.get(IFA_LOCAL)
            if IFA_FLAGS in attrs:
                flags = struct.unpack("=I", attrs[IFA_FLAGS][:4])[0]
            if local:
                found.append((index, IPv6Interface(f"{IPv6Address(local)}/{prefixlen}"), flags))
        return found

    def add_route(self, destination: IPv4Network | IPv6Network,
                  gateway: IPv4Address | IPv6Address | None, index: int | None) -> None:
        """A route to `destination` (of either family): via `gateway`, or straight out
        of interface `index`."""
        family = socket.AF_INET6 if destination.version == 6 else socket.AF_INET
        scope = 0 if gateway is not None else 253  # universe, or link
        body = _RTMSG.pack(family, destination.prefixlen, 0, 0, 254, 3, scope, 1, 0)
        if destination.prefixlen:
            body += _attr(RTA_DST, destination.network_address.packed)
        if gateway is not None:
            body += _attr(RTA_GATEWAY, gateway.packed)
        if index is not None:
            body += _u32(RTA_OIF, index)
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, body)

    def routes(self) -> list[Route]:
        """Every IPv4 route of the main table (what `ip route` shows), in dump order."""
        found = []
        for kind, payload in self._request(RTM_GETROUTE, NLM_F_DUMP,
                                           _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)):
            if kind != RTM_NEWROUTE:
                continue
            _, dst_len, _, _, table, _, _, _, _ = _RTMSG.unpack_from(payload, 0)
            attrs = _parse_attrs(payload, _RTMSG.size)
            if RTA_TABLE in attrs:
                table = struct.unpack("=I", attrs[RTA_TABLE])[0]
            if table != RT_TABLE_MAIN:
                continue
            dst = attrs.get(RTA_DST, b"\0\0\0\0")
            gateway, oif = attrs.get(RTA_GATEWAY), attrs.get(RTA_OIF)
            found.append(Route(IPv4Network(f"{IPv4Address(dst)}/{dst_len}"),
                               IPv4Address(gateway) if gateway else None,
                               struct.unpack("=I", oif)[0] if oif else None))
        return found

    def move_link(self, name: str, ns_fd: int) -> None:
        self._request(RTM_NEWLINK, NLM_F_ACK,
                      _ifinfo() + _str(IFLA_IFNAME, name) + _u32(IFLA_NET_NS_FD, ns_fd))

    def rename(self, index: int, name: str) -> None:
        self._request(RTM_NEWLINK, NLM_F_ACK, _ifinfo(index) + _str(IFLA_IFNAME, name))

    def set_default_route(self, gateway: IPv4Address | IPv6Address) -> None:
        """Add the default route via `gateway` (of its family), replacing any default
        route of that family there was."""
        family = socket.AF_INET6 if gateway.version == 6 else socket.AF_INET
        body = _RTMSG.pack(family, 0, 0, 0, 254, 3, 0, 1, 0)
        body += _attr(RTA_GATEWAY, gateway.packed)
        self._request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, body)

    # -- neighbours ----------------------------------------------------------

    def flush_neighbours(self) -> int:
        """Delete every dynamic IPv4 neighbour entry; returns how many went."""
        return sum(self.delete_neighbour(index, address)
                   for index, address, _, state in self.neighbours()
                   if not state & (NUD_PERMANENT | NUD_NOARP))

    def neighbours(self) -> list[tuple[int, IPv4Address, str | None, int]]:
        """(interface index, address, MAC or None, NUD state) of every IPv4 neighbour entry."""
        found = []
        for kind, payload in self._request(RTM_GETNEIGH, NLM_F_DUMP,
                                           _NDMSG.pack(socket.AF_INET, 0, 0, 0, 0)):
            if kind != RTM_NEWNEIGH:
                continue
            _, index, state, _, _ = _NDMSG.unpack_from(payload, 0)
            attrs = _parse_attrs(payload, _NDMSG.size)
            dst, lladdr = attrs.get(NDA_DST), attrs.get(NDA_LLADDR)
            if dst is None or len(dst) != 4:
                continue
            mac = ":".join(f"{b:02x}" for b in lladdr) if lladdr else None
            found.append((index, IPv4Address(dst), mac, state))
        return found

    def delete_neighbour(self, index: int, address: IPv4Address) -> bool:
        """Forget one neighbour entry; False when there was none."""
        body = _NDMSG.pack(socket.AF_INET, index, 0, 0, 0) + _attr(NDA_DST, address.packed)
        try:
            self._request(RTM_DELNEIGH, NLM_F_ACK, body)
        except NetlinkError as exc:
            if exc.errno == errno_mod.ENOENT:
                return False
            raise
        return True

    def pin_neighbour(self, index: int, address: IPv4Address, mac: str) -> None:
        """A permanent neighbour entry (never resolved by ARP, never garbage-collected)."""
        body = _NDMSG.pack(socket.AF_INET, index, NUD_PERMANENT, 0, 0)
        body += _attr(NDA_DST, address.packed) + _mac(NDA_LLADDR, mac)
        self._request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK, body)
