"""Reachability matrices: expected next to observed, as data and as truth tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from emulator.probes.expected import Expectations, Node
from emulator.probes.model import ProbeResult, Verdict


@dataclass(frozen=True)
class Cell:
    source: str
    target: str
    protocol: str
    expected: Verdict
    observed: Verdict
    rtt_ms: float | None
    evidence: str

    @property
    def wrong(self) -> bool:
        return self.expected != self.observed


def compare(nodes: list[Node], results: Iterable[ProbeResult],
            expectations: Expectations) -> list[Cell]:
    by_name = {n.name: n for n in nodes}
    cells = []
    for r in results:
        reached = expectations.reaches(by_name[r.source], by_name[r.target], r.protocol)
        expected = Verdict.REACHED if reached else Verdict.BLOCKED
        cells.append(Cell(r.source, r.target, r.protocol, expected, r.verdict, r.rtt_ms,
                          r.evidence))
    return cells


def axes(cells: list[Cell]) -> tuple[list[str], list[str]]:
    """Sources in probing order; targets in the same order (a container's addresses
    where the container stands among the sources)."""
    sources = list(dict.fromkeys(c.source for c in cells))
    rank = {name: i for i, name in enumerate(sources)}
    targets = sorted(dict.fromkeys(c.target for c in cells),
                     key=lambda t: (rank.get(t.split("@")[0], len(rank)), t))
    return sources, targets


def truth_table(cells: list[Cell], protocol: str, which: str) -> str:
    """`.` reached, `X` blocked, `?` error; `which` is expected, observed or diff."""
    chosen = [c for c in cells if c.protocol == protocol]
    sources, targets = axes(chosen)
    index = {(c.source, c.target): c for c in chosen}
    width = max(len(s) for s in sources) if sources else 1
    lines = [f"{protocol} {which}".ljust(width) + "  " + " ".join(
        f"{i:>2}" for i in range(len(targets)))]
    for source in sources:
        row = []
        for target in targets:
            cell = index.get((source, target))
            if cell is None:
                row.append(" -")
            elif which == "diff":
                row.append(" !" if cell.wrong else " .")
            else:
                verdict = cell.expected if which == "expected" else cell.observed
                row.append(f" {verdict.symbol}")
        lines.append(source.ljust(width) + "  " + " ".join(row))
    lines.append("columns: " + ", ".join(f"{i}={t}" for i, t in enumerate(targets)))
    return "\n".join(lines)
