"""The data plane of one host: per network a Linux bridge and a VXLAN device on it,
per joined endpoint a veth pair, and the VXLAN forwarding database.

    container eth0 ── veth ── mb-<net8> (bridge) ── mv-<net8> (VXLAN, VNI from the id,
                                                     UDP 6784, nolearning, unicast)

The VXLAN device learns nothing by itself. Its forwarding database is programmed
from the daemon's state: one all-zeros entry per connected peer (broadcast, ARP and
unknown unicast are copied to every peer: head-end replication) and one entry per
remote endpoint MAC (unicast goes straight to the peer that has it). `reconcile`
makes the kernel's entries equal to a wanted set, so every change of membership or
endpoints is one diff.

Every device carries a prefix of its own (mb-, mv-, mh-, mc-), so `sweep` can find
what a killed daemon left in its namespace.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from emulator.mesh import iproute

VXLAN_PORT = 6784
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
ZERO_MAC = "00:00:00:00:00:00"
BRIDGE_PREFIX, VXLAN_PREFIX, HOST_VETH_PREFIX, CONTAINER_VETH_PREFIX = "mb-", "mv-", "mh-", "mc-"
PREFIXES = (BRIDGE_PREFIX, VXLAN_PREFIX, HOST_VETH_PREFIX, CONTAINER_VETH_PREFIX)

log = logging.getLogger("mesh.dataplane")


def bridge_name(net_id: str) -> str:
    return BRIDGE_PREFIX + net_id[:8]


def vxlan_name(net_id: str) -> str:
    return VXLAN_PREFIX + net_id[:8]


def veth_names(ep_id: str) -> tuple[str, str]:
    """(host end, container end) of an endpoint's veth pair."""
    return HOST_VETH_PREFIX + ep_id[:10], CONTAINER_VETH_PREFIX + ep_id[:10]


def vni_of(net_id: str) -> int:
    """The same on every host: the first six hex digits of the network id (ids that are
    not hex get a CRC), never 0."""
    try:
        vni = int(net_id[:6], 16)
    except ValueError:
        vni = zlib.crc32(net_id.encode()) & 0xFFFFFF
    return vni or 0xFFFFFF


@dataclass(frozen=True, order=True)
class FdbEntry:
    """One entry of a VXLAN device's forwarding database: frames for `mac` (all zeros:
    flooded frames) go to `peer`."""

    vxlan: str
    mac: str
    peer: str

    def add_line(self) -> str:
        verb = "append" if self.mac == ZERO_MAC else "replace"
        return f"fdb {verb} {self.mac} dev {self.vxlan} dst {self.peer}"

    def del_line(self) -> str:
        return f"fdb del {self.mac} dev {self.vxlan} dst {self.peer}"


class DataPlane:
    def __init__(self, address: str, device: str) -> None:
        self.address = address  # the VXLAN's local (underlay) address
        self.device = device  # the underlay interface holding it
        self.programmed: set[FdbEntry] = set()

    # -- networks -------------------------------------------------------------

    def network_ready(self, net_id: str) -> bool:
        found = {link.get("ifname"): link for link in iproute.links()}
        vxlan = found.get(vxlan_name(net_id))
        return (bridge_name(net_id) in found and vxlan is not None
                and vxlan.get("master") == bridge_name(net_id)
                and (vxlan.get("linkinfo") or {}).get("info_data", {}).get("id")
                == vni_of(net_id))

    def create_network(self, net_id: str, mtu: int) -> None:
        """The bridge and its VXLAN port; nothing is changed when both are there."""
        if self.network_ready(net_id):
            return
        self.remove_network(net_id)
        br, vx = bridge_name(net_id), vxlan_name(net_id)
        try:
            iproute.batch("ip", [
                f"link add name {br} type bridge stp_state 0 forward_delay 0 mcast_snooping 0 "
                "nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0",
                f"link set dev {br} mtu {mtu} addrgenmode none",
                f"link add name {vx} mtu {mtu} type vxlan id {vni_of(net_id)} "
                f"local {self.address} dev {self.device} dstport {VXLAN_PORT} nolearning",
                f"link set dev {vx} master {br} addrgenmode none up",
                f"link set dev {br} up",
            ])
        except iproute.IprouteError:
            self.remove_network(net_id)
            raise

    def remove_network(self, net_id: str) -> None:
        vx = vxlan_name(net_id)
        self.programmed = {e for e in self.programmed if e.vxlan != vx}
        iproute.batch("ip", [f"link del dev {vx}", f"link del dev {bridge_name(net_id)}"],
                      force=True)

    # -- endpoints ------------------------------------------------------------

    def create_veth(self, net_id: str, ep_id: str, mac: str, mtu: int) -> str:
        """A veth pair: the host end on the network's bridge and up, the other end (named
        in the answer to Join, moved into the container by the engine) with the
        endpoint's MAC. Made afresh when asked again."""
        host, peer = veth_names(ep_id)
        self.remove_veth(ep_id)
        try:
            iproute.batch("ip", [
                f"link add name {host} mtu {mtu} type veth peer name {peer} mtu {mtu} "
                f"address {mac}",
                f"link set dev {host} master {bridge_name(net_id)} addrgenmode none up",
            ])
        except iproute.IprouteError:
            self.remove_veth(ep_id)
            raise
        return peer

    def remove_veth(self, ep_id: str) -> None:
        """Deleting either end deletes both; the container end may be in the container by
        now, or gone with it."""
        host, peer = veth_names(ep_id)
        iproute.batch("ip", [f"link del dev {host}", f"link del dev {peer}"], force=True)

    # -- forwarding database --------------------------------------------------

    def reconcile(self, wanted: Iterable[FdbEntry]) -> None:
        wanted = set(wanted)
        stale = sorted(self.programmed - wanted)
        fresh = sorted(wanted - self.programmed)
        if stale:
            iproute.batch("bridge", [e.del_line() for e in stale], force=True)
        if fresh:
            try:
                iproute.batch("bridge", [e.add_line() for e in fresh])
            except iproute.IprouteError as exc:
                # An entry that is there already is fine; retry line by line to find the rest.
                log.debug("fdb batch: %s", exc)
                for entry in fresh:
                    try:
                        iproute.bridge(*entry.add_line().split())
                    except iproute.IprouteError as one:
                        if "File exists" not in str(one):
                            log.warning("%s", one)
        self.programmed = (self.programmed - set(stale)) | set(fresh)


def sweep() -> list[str]:
    """Remove every mesh device of this namespace (what a killed daemon left):
    veths first, then VXLANs, then bridges. Returns their names."""
    order = {"veth": 0, "vxlan": 1, "bridge": 2}
    expected = {HOST_VETH_PREFIX: "veth", CONTAINER_VETH_PREFIX: "veth", VXLAN_PREFIX: "vxlan",
                BRIDGE_PREFIX: "bridge"}
    found = []
    for link in iproute.links():
        name = str(link.get("ifname", ""))
        kind = (link.get("linkinfo") or {}).get("info_kind")
        for prefix, wanted_kind in expected.items():
            if name.startswith(prefix) and kind == wanted_kind:
                found.append((order[kind], name))
    found.sort()
    iproute.batch("ip", [f"link del dev {name}" for _, name in found], force=True)
    return [name for _, name in found]
