"""The host firewall: one nftables table per Docker host, owned by the engine.

dockerd keeps one set of iptables chains per host (and, since Docker 27, the
same chains in ip6tables), to which the bridge driver adds its networks' rules
and in which its FORWARD policy drops what nothing accepted. Here each
contributor hands in its part under a key (the bridge driver one per network,
the engine one per plugin network's subnet), and each change is one small nft
transaction: what a network brings are elements of named sets, added with it and
deleted with it. A transaction's size does not depend on how many networks
exist; one that fails to load is taken back, so the kernel keeps the last state
that was good.

The table is of the `inet` family: one table for IPv4 and IPv6. The rules that
decide isolation between networks, internal networks and ICC match bridges by
name, so they are one rule for both families: a dual-stack network cannot be
isolated over IPv4 and open over IPv6 (the historical Docker failure of issue
19); an internal network's bridged IPv4 is also held to its subnet (below). What
depends on addresses (subnets, masquerade, published ports) has a set per family;
IPv6 sets and maps end in 6.

What the rules do, as Docker 28's DOCKER-ISOLATION chains, internal-network
rules, ICC setting and MASQUERADE rules do in iptables and ip6tables:
- traffic routed from one bridge network to another is dropped, both ways;
- an internal network's traffic never leaves its bridge; bridged IPv4 on it
  (bridge netfilter hands it to the forward hook) is dropped when addressed outside
  its subnet or coming from outside it (multicast, 255.255.255.255, 0.0.0.0), as
  Docker's IPv4 rules `-i br ! -d PREFIX -j DROP` and `-o br ! -s PREFIX -j DROP`
  do; its IPv6 rules carry `! -o br` / `! -i br` (since Docker 25), so bridged IPv6
  (neighbour discovery, link-local) stays untouched, as the bridge-pair rules here
  leave it;
- with ICC off, IP traffic between two ports of the bridge is dropped: as on
  Docker, bridge netfilter hands bridged IPv4 and IPv6 to the forward hook;
- what is routed into a bridge network from elsewhere (another host that routes a
  network's prefix to the Docker host, say) is dropped unless it answers a
  connection from inside or is for a published port: Docker 28's `-A DOCKER ! -i
  br -o br -j DROP` after its per-port ACCEPTs and DOCKER-CT (and its raw-table
  direct-access rule); it matters most for IPv6, whose prefixes are routed;
- traffic from a network to anywhere beyond its bridge is masqueraded, IPv6
  too (NAT66, as Docker 28 does in its default gateway mode, nat);
- traffic routed between the subnets of other drivers' networks on the host (a
  plugin's bridges, say) and any other network's subnet is dropped too, as
  dockerd's FORWARD policy DROP does, while what a plugin bridges inside one
  network is left alone;
- a published port is DNATed to its container when addressed to the host (from
  other hosts and from the host itself), as Docker 28's per-port DNAT rules do:
  to the container's IPv4 address from the host's IPv4 addresses and to its IPv6
  address from the host's IPv6 addresses, except from link-local sources (Docker's
  `! -s fe80::/10`) and for ::1 (which only Docker's proxy serves).
  Docker's default userland proxy answers what those rules leave out (the host's
  own 127.0.0.1, and every container on a bridge network: its nat chain returns
  for each bridge) and connects to the container from the gateway address. Here
  the DNAT takes those too; their connections are marked, let through the
  isolation between networks as the proxy's would be, and masqueraded (as is
  what leaves 127.0.0.1, which route_localnet on the bridge, set by the driver,
  lets out), so the container sees the source the proxy would give it. A packet
  for 127.0.0.0/8 that comes in on a bridge is dropped, as Docker's raw rule for
  loopback-bound ports does.

Bridges are matched by name in hash sets (`bridge_pairs` holds "b" . "b", so
that one lookup tells whether a packet stays on its bridge). Subnets are matched
as `ip saddr & MASK` (`ip6 saddr & MASK`) in hash sets, one family of sets per
prefix length in use: the first subnet of a length declares its sets and
rewrites the few chains that match that family (a rule per length), the last one
removes them. Interval sets would do with one set per purpose, but nft reads
every element of every interval set of the table before each change, which would
make a change cost more the more networks exist. Subnets nested in one another
(possible only between a plugin's network and another) are told apart by prefix
length alone.

The whole state renders as the table followed by the statements that fill it;
that is what a full load sends, and what golden files hold.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from emulator.fabric.base import HostFabric

TABLE = "inet cnm"
"""One table for both families: what is matched by interface (isolation between
bridges, internal networks, ICC) is one rule for IPv4 and IPv6 alike, so a dual-stack
network cannot be isolated over one family and open over the other."""

SKELETON = """table inet cnm {
  set bridges {
    type ifname
  }
  set bridge_pairs {
    type ifname . ifname
  }
  set internal_bridges {
    type ifname
  }
  set icc_off {
    type ifname
  }
  map published_any {
    type inet_proto . inet_service : ipv4_addr . inet_service
  }
  map published_at {
    type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
  }
  map published6_any {
    type inet_proto . inet_service : ipv6_addr . inet_service
  }
  map published6_at {
    type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service
  }
  chain isolation {
  }
  chain from_isolated {
  }
  chain to_isolated {
  }
  chain drop_to_subnets {
  }
  chain drop_from_subnets {
  }
  chain internal_subnets {
  }
  chain masq {
  }
  chain published {
    iifname @internal_bridges return
    iifname @bridges meta nfproto ipv4 meta l4proto . th dport @published_any SET_PROXIED
    iifname @bridges ip daddr . meta l4proto . th dport @published_at SET_PROXIED
    dnat ip to ip daddr . meta l4proto . th dport map @published_at
    meta nfproto ipv4 dnat ip to meta l4proto . th dport map @published_any
    ip6 saddr fe80::/10 return
    iifname @bridges meta nfproto ipv6 meta l4proto . th dport @published6_any SET_PROXIED
    iifname @bridges ip6 daddr . meta l4proto . th dport @published6_at SET_PROXIED
    dnat ip6 to ip6 daddr . meta l4proto . th dport map @published6_at
    meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @published6_any
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump published
  }
  chain output {
    type nat hook output priority -100; policy accept;
    ip6 daddr ::1 return
    fib daddr type local jump published
  }
  chain loopback_guard {
    type filter hook prerouting priority raw; policy accept;
    iifname @bridges ip daddr 127.0.0.0/8 drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct mark & PROXIED == PROXIED accept
    iifname @bridges oifname @bridges iifname . oifname != @bridge_pairs drop
    iifname @internal_bridges iifname . oifname != @bridge_pairs drop
    oifname @internal_bridges iifname . oifname != @bridge_pairs drop
    jump internal_subnets
    iifname @icc_off iifname . oifname @bridge_pairs drop
    jump isolation
    oifname @bridges iifname != @bridges ct state established,related accept
    oifname @bridges iifname != @bridges ct status dnat accept
    oifname @bridges iifname != @bridges drop
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ct mark & PROXIED == PROXIED masquerade
    oifname @bridges ip saddr 127.0.0.0/8 masquerade
    jump masq
  }
}
""".replace("SET_PROXIED", "ct mark set ct mark | PROXIED").replace("PROXIED", "0x00100000")

FAMILY_SETS: dict[str, tuple[str, ...]] = {
    "subnets": ("subnets_{p} {{ type ipv4_addr; }}",),
    "isolated": ("isolated_{p} {{ type ipv4_addr; }}",
                 "isolated_pairs_{p} {{ type ipv4_addr . ipv4_addr; }}"),
    "masq": ("masq_{p} {{ type ipv4_addr; }}", "masq_own_{p} {{ type ipv4_addr . ifname; }}"),
    "subnets6": ("subnets6_{p} {{ type ipv6_addr; }}",),
    "isolated6": ("isolated6_{p} {{ type ipv6_addr; }}",
                  "isolated_pairs6_{p} {{ type ipv6_addr . ipv6_addr; }}"),
    "masq6": ("masq6_{p} {{ type ipv6_addr; }}",
              "masq_own6_{p} {{ type ipv6_addr . ifname; }}"),
    "confined": ("confined_{p} {{ type ifname; }}",
                 "confined_nets_{p} {{ type ifname . ipv4_addr; }}"),
}
"""Per prefix length {p}: the sets of each family of subnets (IPv6 ones end in 6);
`confined`: the internal bridges with an IPv4 subnet of that length, and each one's
bridge . subnet."""

_SET_FAMILY = {"subnets": "subnets", "isolated": "isolated", "isolated_pairs": "isolated",
               "masq": "masq", "masq_own": "masq"}
_SET_FAMILY.update({name + "6": family + "6" for name, family in list(_SET_FAMILY.items())})
_SET_FAMILY.update(confined="confined", confined_nets="confined")  # IPv4 only

CHAIN_RULES: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]] = {
    "isolation": ((("isolated", ("ip saddr & {m} @isolated_{p} jump from_isolated",
                                 "ip daddr & {m} @isolated_{p} jump to_isolated")),
                   ("isolated6", ("ip6 saddr & {m} @isolated6_{p} jump from_isolated",
                                  "ip6 daddr & {m} @isolated6_{p} jump to_isolated"))), ()),
    "from_isolated": (
        (("isolated", ("ip saddr & {m} . ip daddr & {m} @isolated_pairs_{p} return",)),
         ("isolated6", ("ip6 saddr & {m} . ip6 daddr & {m} @isolated_pairs6_{p} return",))),
        ("jump drop_to_subnets",)),
    "to_isolated": (
        (("isolated", ("ip saddr & {m} . ip daddr & {m} @isolated_pairs_{p} return",)),
         ("isolated6", ("ip6 saddr & {m} . ip6 daddr & {m} @isolated_pairs6_{p} return",))),
        ("jump drop_from_subnets",)),
    "drop_to_subnets": ((("subnets", ("ip daddr & {m} @subnets_{p} drop",)),
                         ("subnets6", ("ip6 daddr & {m} @subnets6_{p} drop",))), ()),
    "drop_from_subnets": ((("subnets", ("ip saddr & {m} @subnets_{p} drop",)),
                           ("subnets6", ("ip6 saddr & {m} @subnets6_{p} drop",))), ()),
    "internal_subnets": ((("confined", (
        "iifname @confined_{p} iifname . ip daddr & {m} != @confined_nets_{p} drop",
        "oifname @confined_{p} oifname . ip saddr & {m} != @confined_nets_{p} drop")),), ()),
    "masq": ((("masq", ("ip saddr & {m} @masq_{p} ip saddr & {m} . oifname != @masq_own_{p} "
                        "masquerade",)),
              ("masq6", ("ip6 saddr & {m} @masq6_{p} ip6 saddr & {m} . oifname != "
                         "@masq_own6_{p} masquerade",))), ()),
}
"""The chains that depend on which prefix lengths are in use: for each family feeding
them, the rules for each length (netmask {m}) in increasing order; then the rules that
end them (when they have any rule)."""


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    subnet: IPv4Network | None
    internal: bool
    icc: bool
    masquerade: bool
    """Masquerade of what leaves the network: IPv4, and IPv6 too (NAT66, as Docker 28's
    ip6tables rules in its default gateway mode, nat)."""
    subnet6: IPv6Network | None = None


@dataclass(frozen=True)
class PublishedPort:
    """A host port DNATed to a container: Docker's per-port DNAT rule, and the
    masquerading by which the container sees hairpinned and loopback connections
    come from its gateway, as docker-proxy makes them."""

    bridge: str
    proto: str
    host_ip: IPv4Address | IPv6Address | None
    """None: every address of the host of the container address's family (0.0.0.0
    or [::]); link-local sources (fe80::/10) are not DNATed, as Docker's ip6tables
    rule says (`! -s fe80::/10`)."""
    host_port: int
    container_ip: IPv4Address | IPv6Address
    container_port: int


@dataclass(frozen=True)
class FirewallPart:
    bridges: tuple[BridgeRules, ...] = ()
    """Bridge networks: isolation from each other, internal, ICC, masquerade."""
    isolated_subnets: tuple[IPv4Network | IPv6Network, ...] = ()
    """Subnets between which (and any other network's) routed traffic is dropped."""
    published: tuple[PublishedPort, ...] = ()
    """Published ports: DNAT from every address of the host (or one), hairpin."""


Element = tuple[str, str]
"""(set name, element as nft writes it)"""
Family = tuple[str, int]
"""(family name, prefix length)"""


def _set_lines(family: Family) -> list[str]:
    name, length = family
    return [line.format(p=length) for line in FAMILY_SETS[name]]


def _netmask(family: str, length: int) -> str:
    return str(ip_network(f"{'::' if family.endswith('6') else '0.0.0.0'}/{length}").netmask)


def _chain_rules(chain: str, families: set[Family]) -> list[str]:
    """The whole content of a chain that depends on the prefix lengths in use."""
    feeds, ending = CHAIN_RULES[chain]
    rules = []
    for name, per_length in feeds:
        lengths = sorted(length for family, length in families if family == name)
        rules += [line.format(p=length, m=_netmask(name, length))
                  for length in lengths for line in per_length]
    return rules + list(ending) if rules else []


def _chain_families(chain: str) -> set[str]:
    return {name for name, _ in CHAIN_RULES[chain][0]}


def _subnet_elements(subnet: IPv4Network | IPv6Network, *kinds: str) -> list[Element]:
    """The elements a subnet puts in the sets of these kinds ("subnets", "isolated",
    "isolated_pairs", "masq"), in the sets of its family and prefix length."""
    six = "6" if subnet.version == 6 else ""
    length, address = subnet.prefixlen, subnet.network_address
    return [(f"{kind}{six}_{length}", f"{address} . {address}" if kind == "isolated_pairs"
             else str(address)) for kind in kinds]


def elements(part: FirewallPart) -> list[Element]:
    """What a part puts in the table."""
    out: list[Element] = []
    for net in part.bridges:
        name = f'"{net.bridge}"'
        out += [("bridges", name), ("bridge_pairs", f"{name} . {name}")]
        if net.internal:
            out.append(("internal_bridges", name))
            if net.subnet is not None:
                length, address = net.subnet.prefixlen, net.subnet.network_address
                out += [(f"confined_{length}", name),
                        (f"confined_nets_{length}", f"{name} . {address}")]
        if not net.icc:
            out.append(("icc_off", name))
        for subnet in (net.subnet, net.subnet6):
            if subnet is None:
                continue
            out += _subnet_elements(subnet, "subnets")
            if net.masquerade and not net.internal:
                six = "6" if subnet.version == 6 else ""
                out += _subnet_elements(subnet, "masq")
                out.append((f"masq_own{six}_{subnet.prefixlen}",
                            f"{subnet.network_address} . {name}"))
    for subnet in part.isolated_subnets:
        out += _subnet_elements(subnet, "subnets", "isolated", "isolated_pairs")
    for port in part.published:
        six = "6" if port.container_ip.version == 6 else ""
        key = f"{port.proto} . {port.host_port}"
        target = f"{port.container_ip} . {port.container_port}"
        if port.host_ip is None:
            out.append((f"published{six}_any", f"{key} : {target}"))
        else:
            out.append((f"published{six}_at", f"{port.host_ip} . {key} : {target}"))
    return out


def _family(set_name: str) -> Family | None:
    """The family a set belongs to (None for the table's own sets)."""
    kind, _, length = set_name.rpartition("_")
    family = _SET_FAMILY.get(kind)
    return (family, int(length)) if family else None


class HostFirewall:
    def __init__(self, fabric: HostFabric) -> None:
        self.fabric = fabric
        self._parts: dict[str, FirewallPart] = {}
        self._held: Counter[Element] = Counter()
        """How many parts hold each element: it is in the kernel while one does."""
        self._in_use: Counter[Family] = Counter()
        """How many elements each family's sets hold: declared while they hold one."""
        self._loaded = False
        self._lock = threading.Lock()

    def contribute(self, key: str, part: FirewallPart) -> None:
        """Add `key`'s part, or replace it, in one transaction; on failure nothing
        changes and the error is raised."""
        with self._lock:
            self._change(key, part)

    def withdraw(self, key: str) -> None:
        """Take `key`'s part out, in one transaction; nothing if there is none."""
        with self._lock:
            if key in self._parts:
                self._change(key, None)

    def part(self, key: str) -> FirewallPart:
        return self._parts.get(key, FirewallPart())

    def clear(self) -> None:
        """Remove the whole table in one command, and forget every part."""
        with self._lock:
            if self._loaded:
                self.fabric.set_firewall("")
            self._parts.clear()
            self._held.clear()
            self._in_use.clear()
            self._loaded = False

    def ruleset(self) -> str:
        """The whole state: the table, then the statements that fill it."""
        families = set(self._in_use)
        lines = sorted(f"add set {TABLE} {line}" for family in families
                       for line in _set_lines(family))
        lines += [f"add rule {TABLE} {chain} {rule}" for chain in CHAIN_RULES
                  for rule in _chain_rules(chain, families)]
        by_set: dict[str, list[str]] = {}
        for name, element in self._held:
            by_set.setdefault(name, []).append(element)
        lines += [f"add element {TABLE} {name} {{ {', '.join(sorted(by_set[name]))} }}"
                  for name in sorted(by_set)]
        return SKELETON + "".join(line + "\n" for line in lines)

    def _change(self, key: str, part: FirewallPart | None) -> None:
        before = self._parts.get(key)
        delta: Counter[Element] = Counter()
        for element in elements(part or FirewallPart()):
            delta[element] += 1
        for element in elements(before or FirewallPart()):
            delta[element] -= 1
        added = [e for e, d in delta.items() if d > 0 and self._held[e] == 0]
        deleted = [e for e, d in delta.items() if d < 0 and self._held[e] + d == 0]
        in_use = self._in_use.copy()
        families_before = set(in_use)
        self._commit(key, part, delta, added, deleted)
        if not self._loaded and not added:
            return
        try:
            if self._loaded:
                self._send(families_before, added, deleted)
            else:
                self.fabric.set_firewall(self.ruleset())
                self._loaded = True
        except Exception:
            self._commit(key, before, Counter({e: -d for e, d in delta.items()}), [], [])
            self._in_use = in_use
            raise

    def _commit(self, key: str, part: FirewallPart | None, delta: Counter[Element],
                added: list[Element], deleted: list[Element]) -> None:
        for element, change in delta.items():
            self._held[element] += change
            if self._held[element] <= 0:
                del self._held[element]
        for change, changed in ((1, added), (-1, deleted)):
            for name, _ in changed:
                family = _family(name)
                if family is not None:
                    self._in_use[family] += change
                    if self._in_use[family] <= 0:
                        del self._in_use[family]
        if part is None:
            self._parts.pop(key, None)
        else:
            self._parts[key] = part

    def _send(self, families_before: set[Family], added: list[Element],
              deleted: list[Element]) -> None:
        """One transaction from the kernel's state (families_before and the elements
        before this change) to the state now."""
        families = set(self._in_use)
        declared, dropped = families - families_before, families_before - families
        kinds = {name for name, _ in declared | dropped}
        lines = sorted(f"add set {TABLE} {line}" for family in declared
                       for line in _set_lines(family))
        for chain in CHAIN_RULES:
            if _chain_families(chain) & kinds:
                lines.append(f"flush chain {TABLE} {chain}")
                lines += [f"add rule {TABLE} {chain} {rule}"
                          for rule in _chain_rules(chain, families)]
        lines += [f"add element {TABLE} {name} {{ {element} }}" for name, element in added]
        lines += [f"delete element {TABLE} {name} {{ {element} }}" for name, element in deleted]
        lines += sorted(f"delete set {TABLE} {line.split()[0]}" for family in dropped
                        for line in _set_lines(family))
        if lines:
            self.fabric.update_firewall("".join(line + "\n" for line in lines))
