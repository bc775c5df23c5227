"""A task's side of the routing mesh: Docker's redirect rules, loaded in the task.

libnetwork (service_linux.go, addRedirectRules) adds in every task container with an
ingress endpoint, for its ingress address A and each published port P -> target T:
nat PREROUTING `-d A -p PROTO --dport P -j REDIRECT --to-port T`; filter INPUT accepts
new and established traffic to A:T, filter OUTPUT established traffic from A:T; and
everything else of TCP, UDP and SCTP to or from A is dropped: on its ingress address
a task answers only its published ports. Here the same rules are loaded with
nftables in the tables iptables-nft uses (`ip nat`, `ip filter`), so `nft list
ruleset` in the task reads as Docker's.
"""

from __future__ import annotations

from emulator.fabric.base import TaskIngress
from emulator.fabric.netns import Namespace
from emulator.fabric.nftsession import NftSession


def redirect_rules(rules: TaskIngress) -> str:
    """The nft script adding the task's rules (chains made if missing)."""
    a = rules.address
    lines = [
        "add table ip nat",
        "add chain ip nat PREROUTING { type nat hook prerouting priority -100; policy accept; }",
        "add table ip filter",
        "add chain ip filter INPUT { type filter hook input priority 0; policy accept; }",
        "add chain ip filter OUTPUT { type filter hook output priority 0; policy accept; }",
    ]
    for proto, published, target in rules.ports:
        lines.append(f"add rule ip nat PREROUTING ip daddr {a} {proto} dport {published} "
                     f"counter redirect to :{target}")
        lines.append(f"insert rule ip filter INPUT ip daddr {a} {proto} dport {target} "
                     "ct state new,established counter accept")
        lines.append(f"insert rule ip filter OUTPUT ip saddr {a} {proto} sport {target} "
                     "ct state established counter accept")
    for proto in ("sctp", "udp", "tcp"):
        lines.append(f"add rule ip filter INPUT ip daddr {a} meta l4proto {proto} counter drop")
    for proto in ("sctp", "udp", "tcp"):
        lines.append(f"add rule ip filter OUTPUT ip saddr {a} meta l4proto {proto} counter drop")
    return "\n".join(lines) + "\n"


def load(namespace: Namespace, rules: TaskIngress) -> None:
    session = NftSession(namespace)
    try:
        session.run(redirect_rules(rules))
    finally:
        session.close()
