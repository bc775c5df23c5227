"""Swarm service load balancing inside one sandbox, with nftables instead of IPVS.

Docker balances a service with IPVS: iptables' mangle table marks what goes to
the service (its virtual IP, or in the ingress sandbox its published ports) with
the service's firewall mark, and an IPVS service for that mark picks a task
round robin and rewrites the destination (NAT mode); in the ingress sandbox an
SNAT rule (`-m ipvs --ipvs -d <ingress subnet> -j SNAT --to-source <its ingress
address>`) rewrites the source too. This kernel has no IPVS, so one nftables
table per sandbox (`ip service_lb`) does the same with DNAT: `numgen inc mod N`
picks the backend in turn, as IPVS's `rr` scheduler does.

What users can observe stays Docker's:
- a VIP balances every TCP, UDP and SCTP port (what an IPVS firewall-mark service
  balances), keeping the port;
- a ping to a VIP is answered by the client's own kernel, as Docker's load-balancer
  sandbox on the client's node answers it (the VIP is an address of its own there);
- a VIP without backends has no rule at all: Docker deletes the IPVS service, its
  mark and the VIP's address with the last backend, so nothing answers for the
  address (ARP goes unanswered: "No route to host" after the kernel's ARP probes);
- an ingress port DNATs to `backend:target` and rewrites the source to the ingress
  sandbox's own address within the ingress subnet, so tasks see that address, not
  the client's.

The table is replaced in one transaction (no moment without rules). Its rendering
is exactly what `nft list table ip service_lb` shows, so the two can be compared.

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

from emulator.fabric.base import IngressPort, IngressRules, VirtualServer
from emulator.fabric.netns import Namespace
from emulator.fabric.nftsession import NftSession
from emulator.fabric.sysctls import write_sysctl

TABLE = ("ip", "service_lb")
TABLE_COMMENT = ("swarm services: virtual IPs and routing-mesh ports balanced round robin"
                 " (Docker: iptables marks + IPVS)")
BALANCED_PROTOCOLS = ("tcp", "udp", "sctp")
"""What an IPVS firewall-mark service balances (other protocols are not its)."""
MESH_MARK = 0x100
"""Marks the routing mesh's connections in prerouting for the SNAT in postrouting, as
Docker's firewall mark (its first is 256) selects them for IPVS."""
LOCAL_ANSWER = "127.0.0.1"
"""Where a ping to a VIP goes: the sandbox's own kernel answers it."""


def _backend_map(backends: Sequence[object]) -> str:
    entries = ", ".join(f"{index} : {backend}" for index, backend in enumerate(backends))
    return f"numgen inc mod {len(backends)} map {{ {entries} }}"


def vip_rules(server: VirtualServer) -> list[str]:
    """Connections the sandbox makes to the VIP: a ping answered locally, every TCP, UDP
    and SCTP port DNATed to the next backend. None without backends."""
    if not server.backends:
        return []
    protocols = ", ".join(BALANCED_PROTOCOLS)
    return [f"ip daddr {server.vip} icmp type echo-request dnat to {LOCAL_ANSWER}",
            f"ip daddr {server.vip} meta l4proto {{ {protocols} }}"
            f" dnat to {_backend_map(server.backends)}"]


def mesh_rule(port: IngressPort) -> list[str]:
    """Connections arriving for a published port: marked for the SNAT, DNATed to the
    next backend's target port. None without backends."""
    if not port.backends:
        return []
    return [f"{port.protocol} dport {port.published} meta mark set {MESH_MARK:#010x}"
            f" dnat to {_backend_map(port.backends)}:{port.target}"]


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
    output = [rule for server in servers for rule in vip_rules(server)]
    mesh = [rule for port in (ingress.ports if ingress else ()) for rule in mesh_rule(port)]
    chains = []
    if output:
        chains.append(_chain("output", "output", "-100", output))
    if ingress is not None and mesh:
        chains.append(_chain("prerouting", "prerouting", "dstnat", mesh))
        chains.append(_chain("postrouting", "postrouting", "srcnat", [
            f"meta mark {MESH_MARK:#010x} ip daddr {ingress.subnet} snat to {ingress.source}"]))
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
            held.session.replace_tables(body, (TABLE,))
            if ingress is not None and body:
                with held.namespace.entered():
                    write_sysctl("net.ipv4.ip_forward", "1")
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
