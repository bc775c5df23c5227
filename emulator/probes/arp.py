"""ARP who-has probes: is the target on the source's layer-2 segment, answering?

Sent with AF_PACKET from the interface whose subnet holds the target, as an
Ethernet broadcast; a reply whose sender address is the target counts as reached.
A target on no connected subnet cannot be asked at all: blocked, "not on-link".
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from emulator.fabric.rtnl import Rtnl

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


@dataclass(frozen=True)
class OnLink:
    ifindex: int
    ifname: str
    mac: bytes
    address: IPv4Address


def on_link_routes(rtnl: Rtnl) -> list[tuple[OnLink, object]]:
    """For the calling namespace: each interface address with its connected network."""
    links = {link.index: link for link in rtnl.links()}
    routes = []
    for index, iface in rtnl.addresses():
        link = links.get(index)
        if link is None or link.mac is None or link.name == "lo":
            continue
        mac = bytes(int(x, 16) for x in link.mac.split(":"))
        routes.append((OnLink(index, link.name, mac, iface.ip), iface.network))
    return routes


def find_on_link(routes, target: IPv4Address) -> OnLink | None:
    for on_link, network in routes:
        if target in network:
            return on_link
    return None


def request(on_link: OnLink, target: IPv4Address) -> bytes:
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, on_link.mac,
                       on_link.address.packed, b"\0" * 6, target.packed)


def parse_reply(packet: bytes) -> tuple[str, str] | None:
    """(sender address, sender MAC) of an ARP reply, else None."""
    if len(packet) < 28:
        return None
    _, ptype, _, _, op, sha, spa, _, _ = struct.unpack_from("!HHBBH6s4s6s4s", packet, 0)
    if ptype != 0x0800 or op != 2:
        return None
    return str(IPv4Address(spa)), ":".join(f"{b:02x}" for b in sha)


def send(sock: socket.socket, on_link: OnLink, target: IPv4Address) -> None:
    sock.sendto(request(on_link, target), (on_link.ifname, ETH_P_ARP, 0, 0, BROADCAST))
