"""Build the report: one self-contained index.html and the same as index.md.

The page has a headline table (every experiment, its verdict and figures with units
and CIs), one section per experiment (plots embedded as base64 PNG/SVG, the first rows
of each CSV with a link to it, links to pcaps), the environment the runs recorded, and,
given a baseline, each figure compared with it. Tables are pandas' rendering; the page
is a Jinja2 template (templates/ beside this module).
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pandas as pd

from emulator.report.compare import DEFAULT_TOLERANCE, WORSE, RunPair, compare_runs
from emulator.report.runs import Run, find_runs

PREVIEW_ROWS = 8
ENVIRONMENT_KEYS = ("kernel", "cpu", "commit")
IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}


@dataclass
class Table:
    name: str
    link: str
    rows: int
    html: str
    markdown: str


@dataclass
class Plot:
    name: str
    link: str
    data_uri: str


@dataclass
class Section:
    run: Run
    figures: list[str]
    plots: list[Plot] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    pcaps: list[tuple[str, str]] = field(default_factory=list)


def _link(path: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(path.resolve(), out_dir.resolve())).as_posix()


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of `frame` (pandas' to_markdown needs tabulate, not a dependency)."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="data", na_rep="", escape=True)


def _csv_table(path: Path, out_dir: Path, name: str) -> Table:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        frame = pd.DataFrame()
    head = frame.head(PREVIEW_ROWS)
    return Table(name, _link(path, out_dir), len(frame), _html_table(head), markdown_table(head))


def _plot(path: Path, out_dir: Path, name: str) -> Plot:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return Plot(name, _link(path, out_dir), f"data:{IMAGE_TYPES[path.suffix.lower()]};base64,"
                                           f"{encoded}")


def _section(run: Run, out_dir: Path) -> Section:
    def name(path: Path) -> str:
        return path.relative_to(run.directory).as_posix()

    return Section(
        run=run,
        figures=[f"{f.name} = {f.text()}" for f in run.figures],
        plots=[_plot(p, out_dir, name(p)) for p in run.files(*IMAGE_TYPES)],
        tables=[_csv_table(p, out_dir, name(p)) for p in run.files(".csv")],
        pcaps=[(name(p), _link(p, out_dir)) for p in run.files(".pcap", ".pcapng")],
    )


def _headline(runs: list[Run], pairs: list[RunPair] | None) -> pd.DataFrame:
    rows = []
    for run in runs:
        row = {
            "experiment": run.experiment,
            "verdict": run.verdict,
            "key figures": "; ".join(f"{f.name} = {f.text()}" for f in run.figures) or "—",
            "duration": f"{run.meta.get('duration_s', '')} s",
            "run": run.run_id,
        }
        if pairs is not None:
            pair = next((p for p in pairs if p.experiment == run.experiment), None)
            worse = sum(c.regressed for c in pair.changes) if pair else 0
            row["vs baseline"] = ("no baseline" if pair is None or pair.before is None
                                  else f"{worse} worse" if worse else "no regression")
        rows.append(row)
    return pd.DataFrame(rows)


def _environment(runs: list[Run]) -> pd.DataFrame:
    """What the runs ran on: each key with the value(s) the runs recorded."""
    values: dict[str, dict[str, list[str]]] = {k: {} for k in ENVIRONMENT_KEYS}
    for run in runs:
        recorded: dict[str, object] = {}
        versions = run.meta.get("versions")
        if isinstance(versions, dict):
            recorded.update(versions)
        for key in ENVIRONMENT_KEYS:
            if key in run.meta:
                recorded[key] = run.meta[key]
        for key, value in recorded.items():
            values.setdefault(key, {}).setdefault(str(value), []).append(run.experiment)
    rows = []
    for key, by_value in values.items():
        if not by_value:
            shown = "not recorded"
        elif len(by_value) == 1:
            shown = next(iter(by_value))
        else:
            shown = "; ".join(f"{v} ({', '.join(e)})" for v, e in by_value.items())
        rows.append({"what": key, "value": shown})
    return pd.DataFrame(rows)


def _comparison_tables(pairs: list[RunPair]) -> list[dict[str, object]]:
    """Per experiment: its runs, its rows (each with whether it regressed), and markdown.
    The HTML table is drawn by the template, which marks a regressed row red."""
    tables = []
    for pair in pairs:
        rows = [c.row() for c in pair.changes]
        frame = pd.DataFrame(rows).drop(columns="experiment", errors="ignore")
        markdown = ""
        if not frame.empty:
            markdown = markdown_table(frame.assign(
                verdict=[f"**{v}**" if v == WORSE else v for v in frame["verdict"]]))
        tables.append({
            "experiment": pair.experiment,
            "before": pair.before.run_id if pair.before else "none",
            "after": pair.after.run_id if pair.after else "none",
            "regressions": sum(c.regressed for c in pair.changes),
            "columns": list(frame.columns),
            "rows": [(row, row["verdict"] == WORSE) for row in rows],
            "markdown": markdown,
        })
    return tables


def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("emulator.report", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "html.j2"]),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True)


@dataclass
class Report:
    index: Path
    markdown: Path
    pairs: list[RunPair] | None

    @property
    def regressions(self) -> int:
        return sum(c.regressed for p in self.pairs or [] for c in p.changes)


def write_report(runs: list[Run], out_dir: Path, baseline: list[Run] | None = None,
                 tolerance: float = DEFAULT_TOLERANCE) -> Report:
    started = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = compare_runs(baseline, runs, tolerance) if baseline is not None else None
    headline = _headline(runs, pairs)
    environment = _environment(runs)
    context = {
        "built": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "headline_html": _html_table(headline),
        "headline_md": markdown_table(headline),
        "environment_html": _html_table(environment),
        "environment_md": markdown_table(environment),
        "sections": [_section(run, out_dir) for run in runs],
        "comparison": _comparison_tables(pairs) if pairs is not None else None,
        "tolerance": f"{tolerance:.0%}",
    }
    env = _templates()
    context["build_seconds"] = f"{time.monotonic() - started:.2f}"
    index = out_dir / "index.html"
    index.write_text(env.get_template("index.html.j2").render(context))
    markdown = out_dir / "index.md"
    markdown.write_text(env.get_template("index.md.j2").render(context))
    return Report(index, markdown, pairs)


def build_report(run_dirs: list[Path], out_dir: Path,
                 compare_with: list[Path] | None = None) -> Path:
    """The report of these runs (run directories, or directories holding runs: the latest
    of each experiment) in out_dir, compared with `compare_with` when given; returns the
    path of index.html. `cnm run` calls this at its end."""
    runs = [run for path in run_dirs for run in find_runs(Path(path))]
    baseline = None
    if compare_with is not None:
        baseline = [run for path in compare_with for run in find_runs(Path(path))]
    return write_report(runs, out_dir, baseline).index
