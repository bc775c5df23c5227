"""A snapshot of what a Docker host's kernel holds, to tell what a network left behind.

A snapshot of one host's own namespace: link names, IPv4 addresses, IPv4 routes
and rules, the firewall rules and the listening sockets (a VXLAN device's UDP
socket lives there). Taken with one command per host. Objects that come and go
by themselves (neighbour entries, carrier flags, rule counters) are left out.

Firewall rules are read from `nft list ruleset`, one item per table, chain and
rule: the emulator writes nftables, and a real dockerd 20.10 writes iptables
rules, which Debian's iptables (1.8, nf_tables backend) keeps as nftables too;
their `counter` statements count packets, so the counts are dropped.
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
])
PARTS = ("link", "address", "route", "rule", "nft", "socket")


@dataclass(frozen=True)
class Snapshot:
    host: str
    items: frozenset[tuple[str, str]]  # (kind, text)

    def diff(self, later: Snapshot) -> tuple[list[str], list[str]]:
        """(what `later` has that this has not, what it lost), as 'kind text' lines."""
        added = sorted(f"{k} {t}" for k, t in later.items - self.items)
        removed = sorted(f"{k} {t}" for k, t in self.items - later.items)
        return added, removed


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


def _nft(text: str) -> set[str]:
    """One item per table, per chain (with its hook and policy) and per rule."""
    out: set[str] = set()
    table = block = ""
    for raw in text.splitlines():
        line = COUNTER.sub("counter", raw.strip())
        if not line or line.startswith("#"):
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


def parse(host: str, output: str) -> Snapshot:
    parts = output.split(SEPARATOR + "\n")
    if len(parts) != len(PARTS):
        raise RuntimeError(f"{host}: unexpected kernel snapshot output: {output[:200]!r}")
    link, address, route, rule, nft, sock = parts
    items: set[tuple[str, str]] = set()
    items |= {("link", n) for n in _links(link)}
    items |= {("address", a) for a in _addresses(address)}
    items |= {("route", r) for r in _routes(route)}
    items |= {("rule", r) for r in _routes(rule)}
    items |= {("nft", r) for r in _nft(nft)}
    items |= {("socket", s) for s in _sockets(sock)}
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
    added, removed = before.diff(after)
    parts = []
    if added:
        parts.append("left behind: " + "; ".join(added))
    if removed:
        parts.append("gone: " + "; ".join(removed))
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
