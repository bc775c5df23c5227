"""The host firewall: one nftables ruleset per Docker host, owned by the engine.

dockerd keeps one set of iptables chains per host, to which the bridge driver
adds its networks' rules and in which its FORWARD policy drops what nothing
accepted. Here each contributor (the bridge driver for its networks, the engine
for the subnets of plugins' networks) hands in its part; the firewall renders
the whole ruleset from every part and loads it. A part that fails to load is
taken back, so the kernel keeps the last ruleset that was good.

What the ruleset does, as Docker's DOCKER-ISOLATION chains, internal-network
rules, ICC setting and MASQUERADE rule do:
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

import threading
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from emulator.fabric.base import HostFabric


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


@dataclass(frozen=True)
class FirewallPart:
    bridges: tuple[BridgeRules, ...] = ()
    """Bridge networks: isolation from each other, internal, ICC, masquerade."""
    isolated_subnets: tuple[IPv4Network, ...] = ()
    """Subnets between which (and the bridges') routed traffic is dropped."""


@dataclass
class HostFirewall:
    fabric: HostFabric
    _parts: dict[str, FirewallPart] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def contribute(self, source: str, part: FirewallPart) -> None:
        """Replace `source`'s part and load the whole ruleset; on failure the
        previous part is restored and the error raised."""
        with self._lock:
            previous = self._parts.get(source)
            self._parts[source] = part
            try:
                self.fabric.set_firewall(self.ruleset())
            except Exception:
                if previous is None:
                    del self._parts[source]
                else:
                    self._parts[source] = previous
                raise

    def part(self, source: str) -> FirewallPart:
        return self._parts.get(source, FirewallPart())

    def ruleset(self) -> str:
        bridges = [b for p in self._parts.values() for b in p.bridges]
        isolated = [s for p in self._parts.values() for s in p.isolated_subnets]
        return render(bridges, isolated)
