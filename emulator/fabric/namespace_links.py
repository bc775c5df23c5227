"""Links, addresses and routes of one namespace, by interface name.

The fabric's view of one namespace: it names interfaces where rtnl.Rtnl (the raw
rtnetlink client, one request per message) mostly wants their indexes, and looks
them up. A `NamespaceLinks` is opened while the thread is inside a namespace and
keeps acting on that namespace after the thread leaves it.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface

from emulator.fabric.rtnl import Link, Rtnl


class NamespaceLinks:
    def __init__(self) -> None:
        self._rtnl = Rtnl()

    def close(self) -> None:
        self._rtnl.close()

    def __enter__(self) -> NamespaceLinks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def link(self, ifname: str) -> Link | None:
        return self._rtnl.link(ifname)

    def require_index(self, ifname: str) -> int:
        link = self._rtnl.link(ifname)
        if link is None:
            raise LookupError(f"no interface {ifname}")
        return link.index

    def add_bridge(self, name: str, mtu: int, mac: str | None = None) -> None:
        self._rtnl.add_bridge(name, mtu, mac)

    def add_veth_into(self, host_ifname: str, master: int | None, peer_ns_fd: int,
                      peer_ifname: str, peer_mac: str | None, mtu: int) -> None:
        """Create a veth pair, this end up, whose peer is born down inside another namespace."""
        self._rtnl.add_veth(host_ifname, master, mtu, peer_ifname, peer_ns_fd, peer_mac)

    def add_macvlan_into(self, parent: str, mode: str, ns_fd: int, ifname: str,
                         mac: str | None, mtu: int | None) -> None:
        """Create a MACVLAN of this namespace's `parent`, born down inside another one."""
        self._rtnl.add_macvlan(ifname, self.require_index(parent), mode, ns_fd, mac, mtu)

    def add_vxlan_into(self, ifname: str, vni: int, port: int, mtu: int, ns_fd: int,
                       ipv6: bool = False) -> None:
        self._rtnl.add_vxlan(ifname, vni, port, mtu, ns_fd, ipv6)

    def move_link(self, ifname: str, ns_fd: int) -> None:
        self._rtnl.move_link(ifname, ns_fd)

    def rename(self, old: str, new: str) -> None:
        self._rtnl.rename(self.require_index(old), new)

    def add_route(self, destination, gateway, ifname: str | None) -> None:
        index = self.require_index(ifname) if ifname else None
        self._rtnl.add_route(destination, gateway, index)

    def set_mac(self, ifname: str, mac: str) -> None:
        self._rtnl.set_mac(ifname, mac)

    def set_master(self, ifname: str, master: str) -> None:
        self._rtnl.set_master(ifname, self.require_index(master))

    def fdb(self, ifname: str, mac: str, dst: IPv4Address | IPv6Address, add: bool) -> None:
        self._rtnl.fdb(self.require_index(ifname), mac, dst, add)

    def forget_neighbour(self, ifname: str, address: IPv4Address) -> None:
        self._rtnl.delete_neighbour(self.require_index(ifname), address)

    def delete_link(self, ifname: str) -> bool:
        """Delete a link; False when it was already gone."""
        return self._rtnl.delete(ifname)

    def set_up(self, ifname: str) -> None:
        self._rtnl.set_up(ifname)

    def set_down(self, ifname: str) -> None:
        self._rtnl.set_down(ifname)

    def set_hairpin(self, ifname: str, on: bool) -> None:
        self._rtnl.set_hairpin(ifname, on)

    def add_address(self, ifname: str, address: IPv4Interface | IPv6Interface,
                    nodad: bool = False) -> None:
        self._rtnl.add_address(self.require_index(ifname), address, nodad)

    def delete_address(self, index: int, address: IPv4Interface) -> None:
        self._rtnl.delete_address(index, address)

    def addresses(self) -> list[tuple[int, IPv4Interface]]:
        """(interface index, address) of every IPv4 address of the namespace."""
        return self._rtnl.addresses()

    def addresses6(self) -> list[tuple[int, IPv6Interface, int]]:
        """(interface index, address, IFA_F_* flags) of every IPv6 address."""
        return self._rtnl.addresses6()

    def set_default_route(self, gateway: IPv4Address | IPv6Address) -> None:
        self._rtnl.set_default_route(gateway)

    def links(self) -> list[Link]:
        return self._rtnl.links()

    def link_names(self) -> list[str]:
        return [link.name for link in self._rtnl.links()]

    def link_info(self, ifname: str) -> dict[str, object] | None:
        """Index, master index, up flag, MTU and MAC of one link, or None."""
        link = self._rtnl.link(ifname)
        if link is None:
            return None
        return {"index": link.index, "master": link.master, "up": link.up, "mtu": link.mtu,
                "mac": link.mac}

    def flush_neighbours(self) -> int:
        return self._rtnl.flush_neighbours()

    def pin_neighbour(self, index: int, address: IPv4Address, mac: str) -> None:
        self._rtnl.pin_neighbour(index, address, mac)
