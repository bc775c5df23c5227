"""What an experiment's run writes: results/<experiment>/<run-id>/.

`meta.json` (parameters, versions, timestamps), tidy CSV (one row per
observation), plots and `summary.md`; the layout and meta.json are those of every
run (`emulator.results`). A check records what was expected next to what was
observed, so a run's verdict is the conjunction of its checks.
"""

from __future__ import annotations

import csv
import time
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


@dataclass
class Outcome:
    ok: bool
    headline: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)


class RunContext:
    """One run of one experiment: its output directory and its parameters."""

    def __init__(self, experiment: str, root: Path, params: dict[str, object]) -> None:
        self.run_id = new_run_id()
        self.experiment = experiment
        self.dir = run_dir(root, experiment, self.run_id)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.params = dict(params)
        self.seed = int(params.get("seed", 0) or 0)
        self.started = time.time()

    def path(self, name: str) -> Path:
        return self.dir / name

    def progress(self, message: str) -> None:
        print(f"  [{self.experiment}] {message}", flush=True)

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
            "figures": outcome.figures,
        })
        self.path("summary.md").write_text(summary_md)


def checks_table_md(checks: list[Check]) -> str:
    lines = ["| step | check | expected | observed | verdict |", "|---|---|---|---|---|"]
    for c in checks:
        verdict = "ok" if c.ok else "**DIFFERS**"
        lines.append(f"| {c.step} | {c.what} | {c.expected} | {c.observed} | {verdict} |")
    return "\n".join(lines) + "\n"
