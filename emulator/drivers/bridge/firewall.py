"""The host's bridge rules, rendered whole from the bridge networks it has.

What Docker's DOCKER-ISOLATION chains, internal-network rules, ICC setting and
MASQUERADE rule do, expressed as one nftables ruleset per Docker host:
- traffic routed from one bridge network to another is dropped, both ways;
- an internal network's traffic never leaves its bridge;
- with ICC off, IP traffic between two ports of the bridge is dropped: as on
  Docker, bridge netfilter hands bridged IPv4 to the forward hook;
- traffic from a network to anywhere beyond its bridge is masqueraded;
- traffic routed between the subnets of other drivers' networks on the host (a
  plugin's bridges, say) is dropped too, as dockerd's FORWARD policy DROP does, while
  what a plugin bridges inside one network is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    subnet: IPv4Network | None
    internal: bool
    icc: bool
    masquerade: bool


def _quoted(names: list[str]) -> str:
    return "{ " + ", ".join(f'"{n}"' for n in names) + " }"


def render(networks: list[BridgeRules], foreign: list[IPv4Network] | None = None) -> str:
    bridges = [n.bridge for n in networks]
    forward: list[str] = []
    known = [n.subnet for n in networks if n.subnet is not None]
    for subnet in foreign or []:
        for other in [*known, *(f for f in foreign or [] if f != subnet)]:
            if other != subnet:
                forward.append(f"ip saddr {subnet} ip daddr {other} drop")
                forward.append(f"ip saddr {other} ip daddr {subnet} drop")
    nat: list[str] = []
    for net in networks:
        quoted = f'"{net.bridge}"'
        if net.internal:
            forward.append(f"iifname {quoted} oifname != {quoted} drop")
            forward.append(f"oifname {quoted} iifname != {quoted} drop")
        others = [b for b in bridges if b != net.bridge]
        if others:
            forward.append(f"iifname {quoted} oifname {_quoted(others)} drop")
        if not net.icc:
            forward.append(f"iifname {quoted} oifname {quoted} drop")
        if net.masquerade and not net.internal and net.subnet is not None:
            nat.append(f"ip saddr {net.subnet} oifname != {quoted} masquerade")
    lines = [
        "table ip cnm {",
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        *(f"    {rule}" for rule in forward),
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        *(f"    {rule}" for rule in nat),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"
