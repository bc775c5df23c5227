"""What an experiment's run writes: results/<experiment>/<run-id>/.

`meta.json` (parameters, versions, timestamps), tidy CSV (one row per
observation), plots and `summary.md`; the layout and meta.json are those of every
run (`emulator.results`). A check records what was expected next to what was
observed, so a run's verdict is the conjunction of its checks, unless the experiment
could not run at all (`Outcome.error`).

An experiment talks to the terminal only through its context: `progress` for the
step it is at, `detail` for long output (truth tables, a tool's log), which lands in
a file of the run and is echoed only by `cnm run -v`.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from emulator.results import new_run_id, run_dir, write_meta


@dataclass
class Check:
    step: str
    what: str
    expected: str
    observed: str
    ok: bool
    evidence: str = ""


# What `cnm run` prints for an outcome, and the exit status each gives it.
OK, DIFFERS, ERROR = "ok", "DIFFERS", "ERROR"
EXIT_STATUS = {OK: 0, DIFFERS: 1, ERROR: 2}


@dataclass
class Outcome:
    ok: bool
    headline: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    # Why the experiment could not run (not root, a bad parameter, a tool missing):
    # then nothing was compared with Docker, and `headline` is not a finding.
    error: str = ""

    @property
    def verdict(self) -> str:
        if self.error:
            return ERROR
        return OK if self.ok else DIFFERS


def could_not_run(reason: str) -> Outcome:
    return Outcome(False, reason, error=reason)


def exit_status(verdicts: list[str]) -> int:
    """2 when any experiment could not run, else 1 when any differs from Docker, else 0."""
    return max((EXIT_STATUS[v] for v in verdicts), default=0)


class ExperimentError(Exception):
    """Raised by an experiment that cannot run here: reported as ERROR, not DIFFERS."""


class RunContext:
    """One run of one experiment: its output directory and its parameters."""

    def __init__(self, experiment: str, root: Path, params: dict[str, object],
                 step: Callable[[str], None] | None = None,
                 echo: Callable[[str], None] | None = None, verbose: bool = False) -> None:
        """`step` shows the step reached (default: a line on stdout); `echo` prints a
        detail's text when `verbose`."""
        self.run_id = new_run_id()
        self.experiment = experiment
        self.dir = run_dir(root, experiment, self.run_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.params = dict(params)
        self.seed = int(params.get("seed", 0) or 0)
        self.started = time.time()
        self.verbose = verbose
        self._step = step or (lambda message: print(f"  [{experiment}] {message}", flush=True))
        self._echo = echo or (lambda text: print(text, flush=True))

    def path(self, name: str) -> Path:
        return self.dir / name

    def progress(self, message: str) -> None:
        """The step the experiment is at, one line; also kept in the run's progress.log."""
        elapsed = time.time() - self.started
        with self.path("progress.log").open("a") as log:
            log.write(f"{elapsed:8.1f}s  {message}\n")
        self._step(message)

    def detail(self, text: str, filename: str | None = None) -> Path | None:
        """Long output: written to `filename` in the run directory (None: it is already in
        one, e.g. summary.md), printed only when the run is verbose."""
        target = None
        if filename is not None:
            target = self.path(filename)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text if text.endswith("\n") else text + "\n")
        if self.verbose:
            self._echo(text)
        return target

    def write_rows(self, name: str, rows: list[dict[str, object]]) -> Path:
        target = self.path(name)
        with target.open("w", newline="") as handle:
            if rows:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        return target

    def write_checks(self, checks: list[Check], name: str = "observations.csv") -> Path:
        return self.write_rows(name, [asdict(c) for c in checks])

    def finish(self, outcome: Outcome, summary_md: str) -> None:
        write_meta(self.dir, {
            "experiment": self.experiment,
            "run_id": self.run_id,
            "parameters": self.params,
            "seed": self.seed,
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "duration_s": round(time.time() - self.started, 3),
            "ok": outcome.ok,
            "verdict": outcome.verdict,
            "figures": outcome.figures,
        })
        self.path("summary.md").write_text(summary_md)


def checks_table_md(checks: list[Check]) -> str:
    lines = ["| step | check | expected | observed | verdict |", "|---|---|---|---|---|"]
    for c in checks:
        verdict = "ok" if c.ok else "**DIFFERS**"
        lines.append(f"| {c.step} | {c.what} | {c.expected} | {c.observed} | {verdict} |")
    return "\n".join(lines) + "\n"
