"""Reachability matrices: expected next to observed, as data and as truth tables.

A cell has a family: a dual-stack lab has an IPv4 and an IPv6 cell for each
(source, target, protocol), its tables are drawn per family and side by side, and
`leaks` finds the cells Docker historically got wrong: isolated over IPv4, not
over IPv6.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from emulator.probes.expected import Expectations, Node
from emulator.probes.model import ARP, IPV4, IPV6, NDP, ProbeResult, Verdict

T = TypeVar("T")


@dataclass(frozen=True)
class Cell:
    source: str
    target: str
    protocol: str
    expected: Verdict
    observed: Verdict
    rtt_ms: float | None
    evidence: str
    family: str = IPV4

    @property
    def wrong(self) -> bool:
        return self.expected != self.observed

    @property
    def label(self) -> str:
        """`protocol`, with `/ipv6` for an IPv6 cell (an IPv4 one reads as before)."""
        return self.protocol if self.family == IPV4 else f"{self.protocol}/{self.family}"


def compare(nodes: list[Node], results: Iterable[ProbeResult],
            expectations: Expectations) -> list[Cell]:
    """Each result next to what Docker does; a target is found by name and family (an
    address's IPv4 and IPv6 nodes share a name), a source by name."""
    by_name: dict[str, Node] = {}
    by_family: dict[tuple[str, str], Node] = {}
    for n in nodes:
        by_family[(n.name, n.family)] = n
        if n.family == IPV4 or n.name not in by_name:
            by_name[n.name] = n
    cells = []
    for r in results:
        target = by_family.get((r.target, r.family)) or by_name[r.target]
        reached = expectations.reaches(by_name[r.source], target, r.protocol)
        expected = Verdict.REACHED if reached else Verdict.BLOCKED
        cells.append(Cell(r.source, r.target, r.protocol, expected, r.verdict, r.rtt_ms,
                          r.evidence, r.family))
    return cells


def families(cells: Iterable[Cell]) -> list[str]:
    """The families present, IPv4 first."""
    present = {c.family for c in cells}
    return [f for f in (IPV4, IPV6) if f in present]


# The protocols whose IPv4 and IPv6 tables stand side by side.
FAMILY_PAIRS = (("icmp", "icmp"), ("tcp", "tcp"), ("udp", "udp"), (ARP, NDP))


def twin_protocol(protocol: str) -> str:
    """The protocol of the other family's twin cell: ARP's is NDP and back."""
    return {ARP: NDP, NDP: ARP}.get(protocol, protocol)


def leaks(cells: Iterable[Cell]) -> list[tuple[Cell, Cell]]:
    """(IPv4 cell, IPv6 cell) pairs of the same source, target and protocol where IPv4
    is isolated as Docker says and IPv6 is not although Docker isolates it too: the
    dual-stack failure Docker itself had before ip6tables (moby/libnetwork#2557)."""
    cells = list(cells)
    v4 = {(c.source, c.target, c.protocol): c for c in cells if c.family == IPV4}
    found = []
    for c in cells:
        if c.family != IPV6:
            continue
        twin = v4.get((c.source, c.target, twin_protocol(c.protocol)))
        if (twin is not None and twin.expected is Verdict.BLOCKED
                and twin.observed is Verdict.BLOCKED and c.observed is Verdict.REACHED
                and c.expected is Verdict.BLOCKED):
            found.append((twin, c))
    return found


def axes(cells: list[Cell]) -> tuple[list[str], list[str]]:
    """Sources in probing order; targets in the same order (a container's addresses
    where the container stands among the sources)."""
    sources = list(dict.fromkeys(c.source for c in cells))
    rank = {name: i for i, name in enumerate(sources)}
    targets = sorted(dict.fromkeys(c.target for c in cells),
                     key=lambda t: (rank.get(t.split("@")[0], len(rank)), t))
    return sources, targets


REACH_LEGEND = "legend: '.' reached  'X' blocked  '?' probe error  '-' not probed"
DIFF_LEGEND = "legend: '=' as Docker  '!' differs from Docker  '-' not probed"


def truth_table(cells: list[Cell], protocol: str, which: str, family: str | None = None,
                targets: list[str] | None = None) -> str:
    """`.` reached, `X` blocked, `?` error; `which` is expected, observed or diff (`=` as
    Docker, `!` differs). A legend line under the table says so. `family` keeps that
    family's cells only, and says so in the title; `targets` fixes the columns (so two
    families' tables share them)."""
    chosen = [c for c in cells if c.protocol == protocol
              and (family is None or c.family == family)]
    sources, found = axes(chosen)
    targets = found if targets is None else targets
    index = {(c.source, c.target): c for c in chosen}

    def mark(cell: Cell) -> str:
        if which == "diff":
            return "!" if cell.wrong else "="
        return (cell.expected if which == "expected" else cell.observed).symbol

    title = f"{protocol} {which}" + ("" if family is None else f" {family}")
    return grid(title, sources, targets, index, mark,
                DIFF_LEGEND if which == "diff" else REACH_LEGEND)


def side_by_side(left: str, right: str, gap: int = 4) -> str:
    """Two grid tables next to each other, row by row; their `columns:` lines (which
    name each table's own columns) and the legend follow underneath, each once."""
    def split(table: str) -> tuple[list[str], list[str]]:
        lines = table.splitlines()
        cut = next((i for i, line in enumerate(lines) if line.startswith("columns: ")),
                   len(lines))
        return lines[:cut], lines[cut:]

    (body_left, foot_left), (body_right, foot_right) = split(left), split(right)
    width = max((len(line) for line in body_left), default=0) + gap
    rows = max(len(body_left), len(body_right))
    body_left += [""] * (rows - len(body_left))
    body_right += [""] * (rows - len(body_right))
    lines = [(a.ljust(width) + b).rstrip() for a, b in zip(body_left, body_right, strict=True)]
    if foot_left == foot_right:
        return "\n".join(lines + foot_left)
    titles = (body_left[0].split("  ")[0].strip(), body_right[0].split("  ")[0].strip())
    for title, foot in zip(titles, (foot_left, foot_right), strict=True):
        lines += [f"{title} {line}" if line.startswith("columns: ") else line
                  for line in foot if line not in lines]
    return "\n".join(lines)


def pair_columns(cells: list[Cell], protocols: tuple[str, ...]) -> list[str]:
    """The targets of these protocols' cells in both families, in table order: the
    columns an IPv4 table and its IPv6 twin share."""
    return axes([c for c in cells if c.protocol in protocols])[1]


def grid(title: str, rows: list[str], columns: list[str], cells: Mapping[tuple[str, str], T],
         mark: Callable[[T], str], legend: str = "") -> str:
    """A text table of one mark per (row, column) cell (`-` where there is none),
    columns numbered and named underneath, then the `legend` line if given."""
    width = max((len(r) for r in rows), default=1)
    lines = [title.ljust(width) + "  " + " ".join(f"{i:>2}" for i in range(len(columns)))]
    for row in rows:
        marks = [" -" if (cell := cells.get((row, column))) is None else f" {mark(cell)}"
                 for column in columns]
        lines.append(row.ljust(width) + "  " + " ".join(marks))
    lines.append("columns: " + ", ".join(f"{i}={c}" for i, c in enumerate(columns)))
    if legend:
        lines.append(legend)
    return "\n".join(lines)
