"""Problems found in a topology, and the one error that reports them all.

A topology is checked completely before any kernel object exists, so every layer
reports into a ProblemLog instead of raising; the log raises TopologyError once, with
one line per problem, each pointing at FILE:LINE and the field's path.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import PartialTopology

FieldPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_path(path: FieldPath) -> str:
    """`hosts.h1.networks.front.options["com.docker.network.bridge.name"]`, `command[0]`."""
    if not path:
        return "(top level)"
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a topology; `path` is None when no field can be named."""

    source: str
    line: int | None
    path: FieldPath | None
    message: str
    allowed: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        what = self.message if self.path is None else f"{format_path(self.path)}: {self.message}"
        choices = f"; allowed: {', '.join(self.allowed)}" if self.allowed else ""
        return f"{where}: {what}{choices}"


class TopologyError(ValueError):
    """A topology that cannot be used; `problems` lists everything wrong, in file order.
    `partial` is what resolved despite them, when the file had the shape of a topology."""

    def __init__(self, problems: Sequence[Problem],
                 partial: PartialTopology | None = None) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: p.line or 0))
        self.partial = partial
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class ProblemLog:
    """Collects problems for one source; `lines` maps a field's path to its line."""

    source: str
    lines: dict[FieldPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def report(
        self,
        path: FieldPath | None,
        message: str,
        allowed: Sequence[str] = (),
        line: int | None = None,
    ) -> None:
        self.problems.append(self.problem(path, message, allowed, line))

    def problem(
        self,
        path: FieldPath | None,
        message: str,
        allowed: Sequence[str] = (),
        line: int | None = None,
    ) -> Problem:
        """A problem in this source, at `line` or else at the line where `path` is written."""
        if line is None and path is not None:
            line = self.line_of(path)
        return Problem(self.source, line, path, message, tuple(allowed))

    def line_of(self, path: FieldPath) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def raise_if_any(self) -> None:
        if self.problems:
            raise TopologyError(self.problems)
