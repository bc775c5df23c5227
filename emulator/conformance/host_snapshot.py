"""A snapshot of what a Docker host's kernel holds, to tell what a network left behind.

A snapshot of one host's own namespace: link names, IPv4 addresses, IPv4 routes
and rules, permanent neighbour entries (a driver's own; dynamic ones come and go by
themselves), the firewall rules, the listening sockets (a VXLAN device's UDP socket
lives there) and the named network namespaces (`ip netns`). Taken with one command
per host. Carrier flags and rule counters are left out.

Firewall rules are read from `nft list ruleset`, one item per table, chain and
rule: the emulator writes nftables, and a real dockerd 20.10 writes iptables
rules, which Debian's iptables (1.8, nf_tables backend) keeps as nftables too;
their `counter` statements count packets, so the counts are dropped. A set's or
map's elements are items of their own, so one element left shows as that element.

A difference is told as items left behind, items gone, and items changed (one gone
and one new at the same place: an address of the same interface, a rule of the
same chain, a route to the same destination), never one change as both.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

SEPARATOR = "@@cnm-conformance@@"
SCRIPT = "; ".join([
    "ip -o link show",
    f"echo {SEPARATOR}", "ip -o -4 addr show",
    f"echo {SEPARATOR}", "ip -4 route show table all",
    f"echo {SEPARATOR}", "ip -4 rule show",
    f"echo {SEPARATOR}", "nft list ruleset",
    f"echo {SEPARATOR}", "ss -Htuln",
    f"echo {SEPARATOR}", "ip -4 neigh show nud permanent",
    f"echo {SEPARATOR}", "ip netns list 2>/dev/null || true",
])
PARTS = ("link", "address", "route", "rule", "nft", "socket", "neighbour", "namespace")
KIND_NAMES = {"link": "link", "address": "address", "route": "route", "rule": "ip rule",
              "nft": "nft", "socket": "socket", "neighbour": "neighbour entry",
              "namespace": "network namespace"}


@dataclass(frozen=True)
class Snapshot:
    host: str
    items: frozenset[tuple[str, str]]  # (kind, text)

    def diff(self, later: Snapshot) -> tuple[list[str], list[str]]:
        """(what `later` has that this has not, what it lost), as 'kind text' lines."""
        added, removed, changed = self.changes(later)
        return ([_line(i) for i in added] + [_line(new) for _, new in changed],
                [_line(i) for i in removed] + [_line(old) for old, _ in changed])

    def changes(self, later: Snapshot) -> tuple[list[tuple[str, str]], list[tuple[str, str]],
                                                  list[tuple[tuple[str, str], tuple[str, str]]]]:
        """(items left behind, items gone, (old, new) items changed in place)."""
        added = sorted(later.items - self.items)
        removed = sorted(self.items - later.items)
        changed = []
        by_place: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for item in removed:
            by_place.setdefault(place(item), []).append(item)
        for item in list(added):
            olds = by_place.get(place(item))
            if olds:
                old = olds.pop(0)
                changed.append((old, item))
                added.remove(item)
                removed.remove(old)
        return added, removed, changed


def _line(item: tuple[str, str]) -> str:
    kind, text = item
    return f"{KIND_NAMES.get(kind, kind)} {text}"


def place(item: tuple[str, str]) -> tuple[str, str]:
    """Where an item sits, so that a change in place is told as one: the interface of an
    address or neighbour entry, the chain of a rule, the destination of a route."""
    kind, text = item
    if kind in ("address", "neighbour"):
        return kind, text.split(" on ", 1)[-1] if kind == "address" else text
    if kind == "nft" and ": " in text:
        return kind, text.split(": ", 1)[0] + ": " + _rule_shape(text.split(": ", 1)[1])
    if kind == "route":
        return kind, " ".join(text.split(" dev ")[0].split(" via ")[0].split())
    return kind, text


def _rule_shape(rule: str) -> str:
    """A rule's statement words, its operands dropped: a changed address or port in one
    rule is one change, not a rule gone and one left behind."""
    return " ".join(w for w in rule.split() if w.isalpha() and w.islower())


def _links(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) >= 2:
            names.add(fields[1].strip().split("@")[0])
    return names


def _addresses(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            out.add(f"{fields[3]} on {fields[1]}")
    return out


def _routes(text: str) -> set[str]:
    return {" ".join(w for w in line.split() if w != "linkdown")
            for line in text.splitlines() if line.strip()}


COUNTER = re.compile(r"counter packets \d+ bytes \d+")
NFT_BLOCKS = ("chain ", "set ", "map ", "flowtable ")


def _joined_lines(text: str) -> list[str]:
    """nft's lines, with an `elements = { ... }` list that spans lines made one."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if pending:
            pending += " " + line
            if pending.count("{") <= pending.count("}"):
                out.append(pending)
                pending = ""
            continue
        if line.startswith("elements = {") and line.count("{") > line.count("}"):
            pending = line
            continue
        out.append(line)
    if pending:
        out.append(pending)
    return out


def _elements(line: str) -> list[str]:
    """The elements of an `elements = { a, b : c }` line, one string each."""
    body = line.split("{", 1)[1].rsplit("}", 1)[0]
    return [e.strip() for e in body.split(",") if e.strip()]


def _nft(text: str) -> set[str]:
    """One item per table, per chain (with its hook and policy), per rule and per set or
    map element."""
    out: set[str] = set()
    table = block = ""
    for raw in _joined_lines(text):
        line = COUNTER.sub("counter", raw.strip())
        if not line or line.startswith("#"):
            continue
        if line.startswith("elements = {") and block:
            out.update(f"{table} {block}: element {e}" for e in _elements(line))
            continue
        if line.startswith("table "):
            table, block = line.removesuffix("{").strip(), ""
            out.add(table)
        elif line.startswith(NFT_BLOCKS):
            block = line.removesuffix("{").strip()
            out.add(f"{table} {block}")
        elif line == "}":
            if block:
                block = ""
            else:
                table = ""
        else:
            out.add(f"{table} {block}: {line}" if block else f"{table}: {line}")
    return out


def _sockets(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5:
            out.add(f"{fields[0]} {fields[4]}")
    return out


def _neighbours(text: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and "dev" in fields:
            mac = fields[fields.index("lladdr") + 1] if "lladdr" in fields else "(no MAC)"
            out.add(f"{fields[0]} {mac} on {fields[fields.index('dev') + 1]} (permanent)")
    return out


def parse(host: str, output: str) -> Snapshot:
    parts = output.split(SEPARATOR + "\n")
    if len(parts) != len(PARTS):
        raise RuntimeError(f"{host}: unexpected kernel snapshot output: {output[:200]!r}")
    link, address, route, rule, nft, sock, neigh, netns = parts
    items: set[tuple[str, str]] = set()
    items |= {("link", n) for n in _links(link)}
    items |= {("address", a) for a in _addresses(address)}
    items |= {("route", r) for r in _routes(route)}
    items |= {("rule", r) for r in _routes(rule)}
    items |= {("nft", r) for r in _nft(nft)}
    items |= {("socket", s) for s in _sockets(sock)}
    items |= {("neighbour", n) for n in _neighbours(neigh)}
    items |= {("namespace", line.split()[0]) for line in netns.splitlines() if line.strip()}
    return Snapshot(host, frozenset(items))


def snapshot(host) -> Snapshot:
    """The kernel state of a DockerHost's own namespace."""
    done = host.exec(["sh", "-c", SCRIPT])
    if done.exit_code != 0:
        raise RuntimeError(f"{host.name}: kernel snapshot failed: {done.stderr.strip()}")
    return parse(host.name, done.stdout)


def snapshots(hosts: Iterable) -> dict[str, Snapshot]:
    return {h.name: snapshot(h) for h in hosts}


def describe(before: Snapshot, after: Snapshot) -> str:
    """One host's difference, item by item: left behind, gone, changed."""
    added, removed, changed = before.changes(after)
    parts = []
    if added:
        parts.append("left behind: " + "; ".join(_line(i) for i in added))
    if removed:
        parts.append("gone: " + "; ".join(_line(i) for i in removed))
    if changed:
        parts.append("changed: " + "; ".join(f"{_line(old)} -> {new[1]}"
                                             for old, new in changed))
    return f"{before.host}: " + " / ".join(parts)


def wait_until_same(hosts: Iterable, before: dict[str, Snapshot],
                    timeout: float = 3.0) -> list[str]:
    """Poll until every host's kernel state is `before` again (a namespace's devices
    go in a kernel work queue after its last reference, with no event to wait on);
    the differences that remain after `timeout`, one line per host."""
    hosts = list(hosts)
    deadline = time.monotonic() + timeout
    while True:
        now = snapshots(hosts)
        differs = [describe(before[h], now[h]) for h in now if now[h].items != before[h].items]
        if not differs or time.monotonic() >= deadline:
            return differs
        threading.Event().wait(0.05)
