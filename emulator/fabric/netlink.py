"""In-process netlink: links, addresses and routes, without a process per object.

A `Netlink` is opened while the thread is inside a namespace and keeps acting
on that namespace after the thread leaves it. Open one per Docker host for the
lab's lifetime; open one per container only for the few calls that set it up.
"""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv4Interface

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError


class Netlink:
    def __init__(self) -> None:
        self._ipr = IPRoute()

    def close(self) -> None:
        self._ipr.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def index(self, ifname: str) -> int | None:
        found = self._ipr.link_lookup(ifname=ifname)
        return found[0] if found else None

    def require_index(self, ifname: str) -> int:
        idx = self.index(ifname)
        if idx is None:
            raise LookupError(f"no interface {ifname}")
        return idx

    def add_bridge(self, name: str, mtu: int) -> int:
        self._ipr.link("add", ifname=name, kind="bridge", mtu=mtu, br_stp_state=0,
                       br_forward_delay=0)
        idx = self.require_index(name)
        self._ipr.link("set", index=idx, state="up")
        return idx

    def add_veth_into(
        self,
        host_ifname: str,
        master: int | None,
        peer_ns_fd: int,
        peer_ifname: str,
        peer_mac: str | None,
        mtu: int,
    ) -> None:
        """Create a veth pair whose peer is born inside another namespace."""
        peer: dict[str, object] = {"ifname": peer_ifname, "net_ns_fd": peer_ns_fd, "mtu": mtu}
        if peer_mac:
            peer["address"] = peer_mac
        extra = {"master": master} if master is not None else {}
        self._ipr.link("add", ifname=host_ifname, kind="veth", mtu=mtu, state="up", peer=peer,
                       **extra)

    def delete_link(self, ifname: str) -> bool:
        """Delete a link; False when it was already gone."""
        idx = self.index(ifname)
        if idx is None:
            return False
        try:
            self._ipr.link("del", index=idx)
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return False
            raise
        return True

    def set_up(self, ifname: str) -> None:
        self._ipr.link("set", index=self.require_index(ifname), state="up")

    def add_address(self, ifname: str, address: IPv4Interface) -> None:
        self._ipr.addr("add", index=self.require_index(ifname), address=str(address.ip),
                       prefixlen=address.network.prefixlen)

    def add_default_route(self, gateway: IPv4Address) -> None:
        self._ipr.route("add", dst="0.0.0.0/0", gateway=str(gateway))

    def default_gateway(self) -> IPv4Address | None:
        for route in self._ipr.route("dump", family=2, table=254):
            if route["dst_len"] == 0 and route.get("RTA_GATEWAY"):
                return IPv4Address(route.get("RTA_GATEWAY"))
        return None

    def link_names(self) -> list[str]:
        return [link.get("IFLA_IFNAME") for link in self._ipr.get_links()]

    def link_info(self, ifname: str) -> dict[str, object] | None:
        """Name, master index, up flag and MTU of one link, or None."""
        idx = self.index(ifname)
        if idx is None:
            return None
        link = self._ipr.get_links(index=idx)[0]
        return {
            "index": idx,
            "master": link.get("IFLA_MASTER"),
            "up": bool(link["flags"] & 1),
            "mtu": link.get("IFLA_MTU"),
            "mac": link.get("IFLA_ADDRESS"),
        }

    def addresses(self, ifname: str) -> list[IPv4Interface]:
        idx = self.index(ifname)
        if idx is None:
            return []
        return [
            IPv4Interface(f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}")
            for a in self._ipr.get_addr(index=idx, family=2)
        ]
