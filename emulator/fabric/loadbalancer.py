"""Swarm service load balancing in a load-balancing sandbox, with nftables instead of IPVS.

Docker (libnetwork since 18.09) balances in sandboxes of its own: each node has one
per swarm network (`lb-NET`) and the ingress sandbox. Each virtual IP with a backend
is a /32 address of the sandbox's interface, so clients on the network reach it
(their ARP is answered there, a ping too); iptables' mangle table marks what goes to
a VIP (or, in the ingress sandbox, to a published port) with the service's firewall
mark; an IPVS service for that mark picks a task round robin and rewrites the
destination (NAT mode); and `-m ipvs --ipvs -d <subnet> -j SNAT --to-source <its own
address>` rewrites the source. This kernel has no IPVS, so one nftables table per
sandbox (`ip service_lb`) does the same with DNAT: `numgen inc mod N` picks the
backend in turn, as IPVS's `rr` scheduler does, and a mark selects the SNAT.

What users can observe stays Docker's:
- a VIP balances every TCP, UDP and SCTP port (what an IPVS firewall-mark service
  balances), keeping the port; the task sees the sandbox's address as the source;
- a ping to a VIP is answered by the sandbox (the VIP is its own address);
- a VIP without backends has no rule and no address: Docker deletes the IPVS service,
  its mark and the VIP's address with the last backend, so nothing answers for it
  (ARP goes unanswered: "No route to host" after the kernel's ARP probes);
- a published port DNATs to `backend:target`, source rewritten in the same way.

The table is replaced in one transaction (no moment without rules); VIP addresses
go before and come after it. Its rendering is exactly what `nft list table ip
service_lb` shows, so the two can be compared. The sandbox forwards (ip_forward 1)
and sends no ICMP redirects: a client's packet leaves by the interface it came in on.

Applying keeps one nft session per programmed sandbox: a session costs a few
tenths of a millisecond per change, but closing the netlink socket of one that
deleted rules waits for the kernel's deferred destruction of them (an RCU grace
period, ~13 ms). A sandbox's session is closed when its program is withdrawn or
the sandbox destroyed, on a short-lived thread of its own so that nobody waits.
A session holds its namespace: it must be closed for the namespace to die.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface

from emulator.fabric.base import IngressPort, IngressRules, VirtualServer
from emulator.fabric.namespace_links import NamespaceLinks
from emulator.fabric.netns import Namespace
from emulator.fabric.nftsession import NftSession
from emulator.fabric.sysctls import write_sysctl

TABLE = ("ip", "service_lb")
TABLE_COMMENT = ("swarm services: virtual IPs and routing-mesh ports balanced round robin"
                 " (Docker: iptables marks + IPVS)")
BALANCED_PROTOCOLS = ("tcp", "udp", "sctp")
"""What an IPVS firewall-mark service balances (other protocols are not its)."""
BALANCED_MARK = 0x100
"""Marks balanced connections in prerouting for the SNAT in postrouting, as Docker's
firewall mark (its first is 256) selects them for IPVS."""


def _backend_map(backends: Sequence[object]) -> str:
    entries = ", ".join(f"{index} : {backend}" for index, backend in enumerate(backends))
    return f"numgen inc mod {len(backends)} map {{ {entries} }}"


def vip_rules(server: VirtualServer) -> list[str]:
    """Connections arriving for the VIP: every TCP, UDP and SCTP port marked and DNATed
    to the next backend. None without backends."""
    if not server.backends:
        return []
    protocols = ", ".join(BALANCED_PROTOCOLS)
    return [f"ip daddr {server.vip} meta l4proto {{ {protocols} }}"
            f" meta mark set {BALANCED_MARK:#010x} dnat to {_backend_map(server.backends)}"]


def mesh_rule(port: IngressPort) -> list[str]:
    """Connections arriving for a published port: marked, DNATed to the next backend's
    target port. None without backends."""
    if not port.backends:
        return []
    return [f"{port.protocol} dport {port.published} meta mark set {BALANCED_MARK:#010x}"
            f" dnat to {_backend_map(port.backends)}:{port.target}"]


def vip_addresses(servers: Sequence[VirtualServer]) -> set[IPv4Address]:
    """The VIPs the sandbox holds as addresses: those with a backend."""
    return {server.vip for server in servers if server.backends}


def _chain(name: str, hook: str, priority: str, rules: list[str]) -> str:
    body = "".join(f"\t\t{rule}\n" for rule in rules)
    return (f"\tchain {name} {{\n"
            f"\t\ttype nat hook {hook} priority {priority}; policy accept;\n"
            f"{body}\t}}\n")


def _validate(servers: Sequence[VirtualServer], ingress: IngressRules | None) -> None:
    vips = [server.vip for server in servers]
    if len(set(vips)) != len(vips):
        raise ValueError(f"a virtual IP is given twice: {sorted(map(str, vips))}")
    if ingress is None:
        return
    keys = [(port.protocol, port.published) for port in ingress.ports]
    for protocol, _ in keys:
        if protocol not in BALANCED_PROTOCOLS:
            raise ValueError(f"a published port's protocol is tcp, udp or sctp, not {protocol!r}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"a published port is given twice: {keys}")
    if ingress.source not in ingress.subnet:
        raise ValueError(f"the ingress source {ingress.source} is not in {ingress.subnet}")


def ruleset(servers: Sequence[VirtualServer], ingress: IngressRules | None = None) -> str:
    """The sandbox's table, as `nft list table` shows it; "" when it would hold no rule."""
    _validate(servers, ingress)
    family, name = TABLE
    balanced = [rule for server in servers for rule in vip_rules(server)]
    balanced += [rule for port in (ingress.ports if ingress else ()) for rule in mesh_rule(port)]
    chains = []
    if balanced:
        chains.append(_chain("prerouting", "prerouting", "dstnat", balanced))
    if ingress is not None and balanced:
        chains.append(_chain("postrouting", "postrouting", "srcnat", [
            f"meta mark {BALANCED_MARK:#010x} ip daddr {ingress.subnet} snat to "
            f"{ingress.source}"]))
    if not chains:
        return ""
    return (f"table {family} {name} {{\n\tcomment \"{TABLE_COMMENT}\"\n"
            + "\n".join(chains) + "}\n")


@dataclass
class _Programmed:
    """A programmed sandbox: our own handle on its namespace and the session in it."""

    namespace: Namespace
    session: NftSession

    def close(self) -> None:
        self.session.close()  # frees the context, so its socket closes here
        self.namespace.close()


def _held_vips(links: NamespaceLinks, source: IPv4Address | None
               ) -> tuple[int | None, set[IPv4Address]]:
    """The interface holding `source` and the VIPs (other /32 addresses) it holds."""
    if source is None:
        return None, set()
    addresses = links.addresses()
    index = next((i for i, a in addresses if a.ip == source), None)
    return index, {a.ip for i, a in addresses
                   if i == index and a.ip != source and a.network.prefixlen == 32}


def _name_of(links: NamespaceLinks, index: int) -> str:
    return next(link.name for link in links.links() if link.index == index)


class SandboxBalancers:
    """The load balancers one fabric programmed, by sandbox key."""

    def __init__(self) -> None:
        self._programmed: dict[str, _Programmed] = {}
        self._lock = threading.Lock()
        self._closing: list[threading.Thread] = []

    def program(self, key: str, namespace: Namespace, servers: Sequence[VirtualServer],
                ingress: IngressRules | None) -> None:
        """Make the table in `namespace` (sandbox `key`'s) exactly this program; with
        ingress rules the sandbox also forwards (net.ipv4.ip_forward=1 there)."""
        body = ruleset(servers, ingress)
        with self._lock:
            held = self._programmed.get(key)
            if held is not None and held.namespace.inode != namespace.inode:
                self._retire(self._programmed.pop(key))  # an earlier sandbox's: gone
                held = None
            if held is None and body:
                held = self._programmed[key] = self._open(namespace)
            elif not body:
                self._programmed.pop(key, None)
        if held is None:
            return  # nothing programmed here, nothing to program
        try:
            with held.namespace.entered(), NamespaceLinks() as links:
                source = ingress.source if ingress is not None else None
                index, stale = _held_vips(links, source)
                wanted = vip_addresses(servers) if index is not None else set()
                for vip in stale - wanted:
                    links.delete_address(index, IPv4Interface(f"{vip}/32"))
                held.session.replace_tables(body, (TABLE,))
                for vip in sorted(wanted - stale):
                    links.add_address(_name_of(links, index), IPv4Interface(f"{vip}/32"))
                if body and index is not None:
                    write_sysctl("net.ipv4.ip_forward", "1")
                    for conf in ("all", "default", _name_of(links, index)):
                        write_sysctl(f"net.ipv4.conf.{conf}.send_redirects", "0")
        finally:
            if not body:
                with self._lock:
                    self._retire(held)

    def forget(self, key: str) -> None:
        """The sandbox is being destroyed: let go of its namespace."""
        with self._lock:
            held = self._programmed.pop(key, None)
            if held is not None:
                self._retire(held)

    def close(self) -> None:
        """Let go of every namespace, and wait until every session is closed."""
        with self._lock:
            for held in self._programmed.values():
                self._retire(held)
            self._programmed.clear()
            closing, self._closing = self._closing, []
        for thread in closing:
            thread.join()

    @staticmethod
    def _open(namespace: Namespace) -> _Programmed:
        own = Namespace(os.dup(namespace.net_fd))
        try:
            return _Programmed(own, NftSession(own))
        except BaseException:
            own.close()
            raise

    def _retire(self, held: _Programmed) -> None:
        """Close on a thread of its own (the caller holds the lock)."""
        thread = threading.Thread(target=held.close, name="nft-session-close", daemon=True)
        thread.start()
        self._closing = [t for t in self._closing if t.is_alive()] + [thread]
