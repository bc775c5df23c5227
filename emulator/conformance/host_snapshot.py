"""A snapshot of what a Docker host's kernel holds, to tell what a network left behind.

A snapshot of one host's own namespace: link names, IPv4 addresses, IPv4 routes
and rules, the nftables ruleset and the listening sockets (a VXLAN device's UDP
socket lives there). Taken with one command per host. Objects that come and go
by themselves (neighbour entries, carrier flags) are left out.
"""

from __future__ import annotations

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
    if nft.strip():
        items.add(("nft", nft.strip()))
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
        parts.append("left behind: " + "; ".join(_short(a) for a in added))
    if removed:
        parts.append("gone: " + "; ".join(_short(r) for r in removed))
    return f"{before.host}: " + " / ".join(parts)


def _short(item: str) -> str:
    if item.startswith("nft "):
        return "nftables ruleset changed"
    return item


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
