"""IPv6 on the conflict lab's LAN: the router's prefix and RAs, hosts' addresses, the truth.

The `macvlan-conflicts` experiment's DAD section needs what its IPv4 section gets
from the lab for free: a router speaking the LAN's protocol (here IPv6, with router
advertisements for SLAAC), LAN hosts holding addresses, and afterwards every
(address, MAC) pair read back from the kernel and the engines, with how each address
came to be (static with or without DAD, SLAAC) and whether the kernel refused it.
Everything happens in the lab's namespaces; RAs are raw ICMPv6 from the router's.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from typing import TypeVar

from emulator.experiments.conflict_lab import Owner
from emulator.fabric.sysctls import write_sysctl
from emulator.lab import Lab
from emulator.lab.dockerhost import ContainerHandle
from emulator.probes.namespaced import inside, popen_in, run_in
from emulator.probes.ndp import IFA_F_DADFAILED, IFA_F_TENTATIVE, SCOPE_GLOBAL, addresses6

LAN_PREFIX6 = IPv6Network("2001:db8:100::/64")
ROUTER6 = LAN_PREFIX6.network_address + 1
IP_RANGE6 = IPv6Network("2001:db8:100::/72")
"""The low /72 of the LAN's /64: it looks far from SLAAC's addresses, yet holds the
EUI-64 address of every host whose MAC starts 02: (the U/L bit flipped gives 00)."""
LAN_NIC = "eth0"
IFA_F_NODAD, IFA_F_PERMANENT = 0x02, 0x80
RA_ROUTER_LIFETIME = 1800
T = TypeVar("T")


def eui64(prefix: IPv6Network, mac: str) -> IPv6Address:
    """The SLAAC address (RFC 4291 appendix A, modified EUI-64) a MAC takes in `prefix`."""
    raw = bytearray(bytes.fromhex(mac.replace(":", "")))
    raw[0] ^= 0x02
    iid = bytes(raw[:3]) + b"\xff\xfe" + bytes(raw[3:])
    return IPv6Address(prefix.network_address.packed[:8] + iid)


def router_advertisement(prefix: IPv6Network, mac: str) -> bytes:
    """An ICMPv6 RA (RFC 4861 4.2) for `prefix`, on-link and autonomous (SLAAC), with
    the router's link-layer address; the kernel fills in the checksum."""
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, RA_ROUTER_LIFETIME, 0, 0)
    pio = struct.pack("!BBBBIII", 3, 4, prefix.prefixlen, 0xC0, 86400, 14400, 0)
    pio += prefix.network_address.packed
    sll = struct.pack("!BB", 1, 1) + bytes.fromhex(mac.replace(":", ""))
    return ra + pio + sll


def wait_for(condition: Callable[[], T], timeout: float, what: str) -> T:
    """The condition's first true value, polled until `timeout`; raises naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def enable_ipv6(pid: int, interface: str = LAN_NIC, dad: bool = True) -> None:
    """IPv6 on an interface (`dad` False: its link-local is usable at once)."""
    with inside(pid):
        write_sysctl(f"net.ipv6.conf.{interface}.accept_dad", "1" if dad else "0")
        write_sysctl(f"net.ipv6.conf.{interface}.disable_ipv6", "0")


def add_address6(pid: int, address: IPv6Interface, interface: str = LAN_NIC,
                 nodad: bool = False) -> None:
    argv = ["ip", "-6", "address", "add", str(address), "dev", interface]
    done = run_in(pid, argv + (["nodad"] if nodad else []), {})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


def link_local_ready(pid: int, interface: str = LAN_NIC) -> bool:
    """The interface's link-local address is past DAD: it takes RAs from then on."""
    return any(a.ifname == interface and a.interface.ip.is_link_local and a.usable
               for a in addresses6(pid))


def setup_router(lab: Lab) -> None:
    """IPv6 on the LAN router (its link-local usable at once) with the LAN prefix's
    first address."""
    pid = lab.node_pid("router")
    enable_ipv6(pid, dad=False)
    add_address6(pid, IPv6Interface(f"{ROUTER6}/{LAN_PREFIX6.prefixlen}"), nodad=True)


def interface_mac(pid: int, interface: str = LAN_NIC) -> str:
    """The interface's MAC, asked inside the namespace (this process's /sys shows the
    devices of the namespace it was mounted in, not the one entered)."""
    done = run_in(pid, ["ip", "-o", "link", "show", "dev", interface], {})
    words = done.stdout.split()
    if "link/ether" not in words:
        raise RuntimeError(f"{interface} in the namespace of pid {pid}: no MAC "
                           f"({done.stderr.strip()})")
    return words[words.index("link/ether") + 1]


def send_ra(lab: Lab, prefix: IPv6Network = LAN_PREFIX6) -> None:
    """One router advertisement for `prefix` from the LAN router to all nodes."""
    pid = lab.node_pid("router")
    mac = interface_mac(pid)
    with inside(pid):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        index = _ifindex(pid)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.sendto(router_advertisement(prefix, mac), ("ff02::1", 0, 0, index))
    finally:
        sock.close()


def _ifindex(pid: int, interface: str = LAN_NIC) -> int:
    with open(f"/proc/{pid}/net/if_inet6") as handle:
        for line in handle:
            fields = line.split()
            if fields[5] == interface:
                return int(fields[1], 16)
    raise RuntimeError(f"{interface} has no IPv6 address in the namespace of pid {pid}")


def slaac_address(pid: int, interface: str = LAN_NIC) -> IPv6Address | None:
    """The interface's usable SLAAC address in the LAN prefix, if it has one yet."""
    return next((a.interface.ip for a in addresses6(pid)
                 if a.ifname == interface and a.interface.ip in LAN_PREFIX6 and a.usable
                 and origin(a.flags) == "slaac"), None)


def ra_settings(pid: int, interface: str = LAN_NIC) -> dict[str, str]:
    """accept_ra and autoconf of an interface, read inside its namespace (/proc/sys/net
    shows the reader's namespace)."""
    found = {}
    for knob in ("accept_ra", "autoconf"):
        done = run_in(pid, ["cat", f"/proc/sys/net/ipv6/conf/{interface}/{knob}"], {})
        found[knob] = done.stdout.strip()
    return found


def origin(flags: int) -> str:
    """How an address came to be, from its kernel flags."""
    if not flags & IFA_F_PERMANENT:
        return "slaac"
    return "static-nodad" if flags & IFA_F_NODAD else "static-dad"


def kernel_state(flags: int) -> str:
    """What the kernel made of an address: usable, still in DAD, or refused by DAD."""
    if flags & IFA_F_DADFAILED:
        return "dadfailed"
    return "tentative" if flags & IFA_F_TENTATIVE else "usable"


@dataclass(frozen=True)
class Held6:
    """One IPv6 address on the LAN as a node's kernel holds it."""

    address: IPv6Address
    owner: Owner
    origin: str  # slaac, static-dad, static-nodad
    state: str  # usable, tentative, dadfailed


def held_in(pid: int, kind: str, name: str, interface: str = LAN_NIC) -> list[Held6]:
    """The LAN-prefix addresses of a namespace's interface, usable or not."""
    mac = interface_mac(pid, interface)
    return [Held6(a.interface.ip, Owner(kind, name, mac), origin(a.flags), kernel_state(a.flags))
            for a in addresses6(pid)
            if a.ifname == interface and a.scope == SCOPE_GLOBAL
            and a.interface.ip in LAN_PREFIX6]


def lan_holdings6(lab: Lab, containers: Iterable[ContainerHandle]) -> list[Held6]:
    """Every LAN-prefix address held on the LAN: router, LAN hosts, containers."""
    lan = lab.topology.lan
    assert lan is not None
    found = held_in(lab.node_pid("router"), "router", "router")
    for host in lan.hosts:
        found += held_in(lab.node_pid(host.name), "lan-host", host.name)
    for container in containers:
        assert container.pid is not None
        found += held_in(container.pid, "container", container.name)
    return found


def owners6(held: Iterable[Held6]) -> dict[IPv6Address, list[Owner]]:
    """Who answers for each address: the holders whose kernel uses it (an address
    still in DAD or refused by it answers no solicitation)."""
    owners: dict[IPv6Address, list[Owner]] = defaultdict(list)
    for h in held:
        if h.state == "usable":
            owners[h.address].append(h.owner)
    return dict(owners)


class AddressMonitor:
    """`ip -6 monitor address` in a namespace: the kernel's own account of addresses
    added and deleted. A SLAAC address that fails DAD is deleted at once (addrconf's
    dad_stop for non-permanent addresses), so this is where the refusal shows."""

    def __init__(self, pid: int) -> None:
        self.lines: list[str] = []
        self._process = popen_in(pid, ["ip", "-6", "monitor", "address"], {})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip())

    def deleted(self, address: IPv6Address) -> str | None:
        """The kernel's line deleting `address`, if it came."""
        return next((line for line in list(self.lines)
                     if line.startswith("Deleted") and f" {address}/" in line), None)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=5)
        self._reader.join(timeout=5)


# -- what a LAN client's neighbour cache makes of a duplicate ------------------------


@dataclass(frozen=True)
class Round6:
    index: int
    mac: str | None
    """The MAC the cache held once the resolution was over."""
    connected: bool
    """The connection that triggered the resolution (its first packet went to the
    first answer)."""
    error: str
    followup: bool
    """A second connection right after, through the entry the cache kept."""


def neighbour_mac(lab: Lab, node: str, address: IPv6Address) -> str | None:
    _, out = lab.node_exec(node, ["ip", "-6", "neigh", "show", "to", str(address),
                                  "dev", LAN_NIC])
    words = out.split()
    return words[words.index("lladdr") + 1] if "lladdr" in words else None


def _connect(sock: socket.socket, address: IPv6Address, port: int,
             timeout: float) -> tuple[bool, str]:
    sock.settimeout(timeout)
    try:
        sock.connect((str(address), port))
        return True, ""
    except OSError as exc:
        return False, exc.strerror or type(exc).__name__
    finally:
        sock.close()


def cache_rounds(lab: Lab, node: str, address: IPv6Address, port: int, rounds: int,
                 timeout: float = 0.5) -> list[Round6]:
    """`rounds` times: forget `address` in the node's neighbour cache, connect to it
    over TCP (a fresh neighbour solicitation; every owner advertises), read which MAC
    the cache kept, and connect again through that entry."""
    pid = lab.node_pid(node)
    with inside(pid):
        sockets = [socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                   for _ in range(2 * rounds)]
    results = []
    for index in range(rounds):
        lab.node_exec(node, ["ip", "-6", "neigh", "del", str(address), "dev", LAN_NIC])
        connected, error = _connect(sockets[2 * index], address, port, timeout)
        mac = neighbour_mac(lab, node, address)
        followup, _ = _connect(sockets[2 * index + 1], address, port, timeout)
        results.append(Round6(index, mac, connected, error, followup))
    return results


def flips(macs: list[str | None]) -> int:
    """How often consecutive rounds' cache entries name different MACs."""
    seen = [m for m in macs if m is not None]
    return sum(1 for a, b in zip(seen, seen[1:], strict=False) if a != b)
