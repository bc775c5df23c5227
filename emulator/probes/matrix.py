"""Reachability matrices: expected next to observed, as data and as truth tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from emulator.probes.expected import Expectations, Node
from emulator.probes.model import ProbeResult, Verdict

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


REACH_LEGEND = "legend: '.' reached  'X' blocked  '?' probe error  '-' not probed"
DIFF_LEGEND = "legend: '=' as Docker  '!' differs from Docker  '-' not probed"


def truth_table(cells: list[Cell], protocol: str, which: str) -> str:
    """`.` reached, `X` blocked, `?` error; `which` is expected, observed or diff (`=` as
    Docker, `!` differs). A legend line under the table says so."""
    chosen = [c for c in cells if c.protocol == protocol]
    sources, targets = axes(chosen)
    index = {(c.source, c.target): c for c in chosen}

    def mark(cell: Cell) -> str:
        if which == "diff":
            return "!" if cell.wrong else "="
        return (cell.expected if which == "expected" else cell.observed).symbol

    return grid(f"{protocol} {which}", sources, targets, index, mark,
                DIFF_LEGEND if which == "diff" else REACH_LEGEND)


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
