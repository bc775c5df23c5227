"""The embedded DNS's kernel side: sockets in a container's namespace and its NAT rules.

Docker's resolver (libnetwork/resolver.go, resolver_unix.go) listens inside the
container's namespace on 127.0.0.11 at a random UDP and a random TCP port, and
installs NAT rules there so that queries to 127.0.0.11:53 reach it: iptables'
nat OUTPUT jumps to DOCKER_OUTPUT, which DNATs port 53 to the resolver's ports;
POSTROUTING jumps to DOCKER_POSTROUTING, which SNATs the resolver's ports back to
53. Here the same chains are loaded with nftables (table `ip nat`, the table
iptables-nft uses), so `nft list ruleset` in the container shows Docker's chains.

A socket keeps the namespace it was made in: the calling thread steps in, makes
the sockets and loads the rules, and steps out; the resolver then serves them
from its own thread without ever switching namespace for a query.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from emulator.fabric import firewall
from emulator.fabric.highfds import lifted
from emulator.fabric.netns import Namespace
from emulator.fabric.nftsession import NftSession

RESOLVER_ADDRESS = "127.0.0.11"
DNS_PORT = 53
NAT_TABLE = ("ip", "nat")


@dataclass
class ResolverSockets:
    """The listening sockets of one container's resolver (non-blocking)."""

    udp: socket.socket
    tcp: socket.socket

    @property
    def udp_port(self) -> int:
        return self.udp.getsockname()[1]

    @property
    def tcp_port(self) -> int:
        return self.tcp.getsockname()[1]

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def nat_rules(udp_port: int, tcp_port: int) -> str:
    """Docker's DOCKER_OUTPUT / DOCKER_POSTROUTING rules, as nft statements (each
    inserted first in Docker, hence TCP before UDP)."""
    ip = RESOLVER_ADDRESS
    return f"""table ip nat {{
  chain OUTPUT {{
    type nat hook output priority -100; policy accept;
    ip daddr {ip} counter jump DOCKER_OUTPUT
  }}
  chain POSTROUTING {{
    type nat hook postrouting priority 100; policy accept;
    ip daddr {ip} counter jump DOCKER_POSTROUTING
  }}
  chain DOCKER_OUTPUT {{
    ip daddr {ip} tcp dport {DNS_PORT} counter dnat to {ip}:{tcp_port}
    ip daddr {ip} udp dport {DNS_PORT} counter dnat to {ip}:{udp_port}
  }}
  chain DOCKER_POSTROUTING {{
    ip saddr {ip} tcp sport {tcp_port} counter snat to {ip}:{DNS_PORT}
    ip saddr {ip} udp sport {udp_port} counter snat to {ip}:{DNS_PORT}
  }}
}}
"""


def open_resolver(namespace: Namespace) -> ResolverSockets:
    """Listen on 127.0.0.11 (random UDP and TCP ports) in `namespace` and load the NAT
    rules there. The sockets are closed again if the rules cannot be loaded."""
    with namespace.entered():
        udp = lifted(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        tcp = lifted(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sockets = ResolverSockets(udp, tcp)
        try:
            udp.bind((RESOLVER_ADDRESS, 0))
            tcp.bind((RESOLVER_ADDRESS, 0))
            tcp.listen(64)
            udp.setblocking(False)
            tcp.setblocking(False)
        except BaseException:
            sockets.close()
            raise
    try:
        session = NftSession(namespace)
        try:
            session.run(nat_rules(sockets.udp_port, sockets.tcp_port))
        finally:
            session.close()
    except (OSError, firewall.FirewallError):
        sockets.close()
        raise
    return sockets


def upstream_socket(namespace: Namespace, server: str, port: int, tcp: bool) -> socket.socket:
    """A non-blocking socket in `namespace` towards an upstream DNS server: connected for
    UDP (so ICMP errors are reported), connecting for TCP."""
    with namespace.entered():
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        sock = socket.socket(family, kind)
        sock.setblocking(False)
        try:
            error = sock.connect_ex((server, port))
        except OSError:
            sock.close()
            raise
    if error not in (0, errno.EINPROGRESS):  # a TCP connection on its way
        sock.close()
        raise OSError(error, f"connect to {server}:{port} failed")
    return sock
