"""What `cnm run` shows while experiments run: one line per experiment.

On a terminal, a live rich progress display: per experiment a spinner, the step it
is at, the time elapsed and, when an earlier run of it recorded how long it took, a
bar of the time used against that and the time left. Without a terminal (a pipe,
CI) plain lines instead, one per step, never a bar redrawn. Either way the long
output of an experiment is not here: it goes to files of the run (`RunContext.detail`)
and `echo` prints it only for `cnm run -v`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, Protocol

from emulator.results import META


def expected_seconds(root: Path, experiment: str) -> float | None:
    """How long the latest earlier run of `experiment` under `root` took, if one finished."""
    runs = sorted((root / experiment).glob(f"*/{META}"), reverse=True)
    for meta in runs:
        try:
            took = json.loads(meta.read_text()).get("duration_s")
        except (OSError, ValueError):
            continue
        if isinstance(took, int | float) and took > 0:
            return float(took)
    return None


class Terminal(Protocol):
    def begin(self, name: str, summary: str, expected_s: float | None) -> None: ...
    def step(self, name: str, message: str) -> None: ...
    def echo(self, text: str) -> None: ...
    def end(self, name: str, verdict: str, took: float) -> None: ...
    def close(self) -> None: ...


PLAIN_STEP_EVERY_S = 20.0
"""Without a terminal, a step line at most this often per experiment (every step is in
the run's progress.log): the whole default run stays within a screenful."""


class PlainTerminal:
    """Lines with the experiment's name and the time since it began: its first step,
    then a step at most every `every_s` seconds, then its verdict."""

    def __init__(self, out: IO[str] | None = None,
                 every_s: float = PLAIN_STEP_EVERY_S) -> None:
        self.out = out or sys.stdout
        self.every_s = every_s
        self.began: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def _line(self, name: str, text: str) -> None:
        now = time.monotonic()
        self.last[name] = now
        took = now - self.began.get(name, now)
        print(f"{name:<18}{took:>5.0f}s  {text}", file=self.out, flush=True)

    def begin(self, name: str, summary: str, expected_s: float | None) -> None:
        self.began[name] = time.monotonic()
        self.last.pop(name, None)

    def step(self, name: str, message: str) -> None:
        last = self.last.get(name)
        if last is None or time.monotonic() - last >= self.every_s:
            self._line(name, message)

    def echo(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def end(self, name: str, verdict: str, took: float) -> None:
        self._line(name, verdict)

    def close(self) -> None:
        pass


class LiveTerminal:
    """rich's live progress display, one task line per experiment."""

    def __init__(self, out: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.table import Column

        time_bar, left = _rich_columns()  # rich is imported only when a terminal needs it
        self.console = Console(file=out or sys.stdout)
        self.progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("{task.fields[name]:<18}", markup=False),
            time_bar(), TimeElapsedColumn(), left(),
            # A step is one line, cut to the terminal's width: never markup, never wrapped.
            TextColumn("{task.fields[step]}", markup=False,
                       table_column=Column(no_wrap=True, overflow="ellipsis")),
            console=self.console, transient=False)
        self.tasks: dict[str, int] = {}
        self.progress.start()

    def begin(self, name: str, summary: str, expected_s: float | None) -> None:
        self.tasks[name] = self.progress.add_task(name, total=expected_s, name=name,
                                                  step="starting")

    def step(self, name: str, message: str) -> None:
        self.progress.update(self.tasks[name], step=message)

    def echo(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def end(self, name: str, verdict: str, took: float) -> None:
        task = self.tasks[name]
        # Finished: the bar full, no time left, the elapsed time frozen at `took`.
        self.progress.update(task, step=verdict, total=took, completed=took)
        self.progress.stop_task(task)

    def close(self) -> None:
        self.progress.stop()


def _rich_columns():
    from rich.progress import ProgressColumn
    from rich.progress_bar import ProgressBar
    from rich.text import Text

    class TimeBarColumn(ProgressColumn):
        """The time used against the earlier run's duration (a pulse when none is known)."""

        def render(self, task):
            if task.total is None:
                return ProgressBar(total=None, width=20, pulse=not task.finished)
            done = task.total if task.finished else min(task.elapsed or 0.0, task.total)
            return ProgressBar(total=task.total, completed=done, width=20)

    class LeftColumn(ProgressColumn):
        """About how long is left, from the earlier run's duration."""

        def render(self, task):
            if task.total is None or task.finished:
                return Text("")
            left = task.total - (task.elapsed or 0.0)
            return Text(f"~{left:.0f}s left" if left > 0 else "overdue", style="dim")

    return TimeBarColumn, LeftColumn


def open_terminal(out: IO[str] | None = None) -> Terminal:
    """The live display when `out` (stdout) is a terminal, else plain lines."""
    stream = out or sys.stdout
    if stream.isatty():
        try:
            return LiveTerminal(stream)
        except ImportError:  # rich not installed: a dependency, but plain lines still work
            pass
    return PlainTerminal(stream)
