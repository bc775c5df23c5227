"""Reports of a conformance run: results/conformance/<run-id>/.

Each driver's run writes `<driver>/results.json` (one entry per check: id,
statement, outcome, time, reason) and `<driver>/junit.xml` (pytest's). From all of
them: `junit.xml` (one test suite per driver, for CI systems), `report.md` and
`report.html` (a table of checks by driver, then every check's outcome, time and
reason).
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path

KIND = "conformance"  # results/conformance/<run-id>/ (see emulator.results)
OUTCOMES = ("passed", "failed", "error", "skipped")
SYMBOL = {"passed": "pass", "failed": "**FAIL**", "error": "**ERROR**", "skipped": "skip",
          None: "-"}
RESULTS = "results.json"
JUNIT = "junit.xml"


def write_driver_results(run_dir: Path, result: dict) -> Path:
    folder = run_dir / result["driver"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESULTS
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def skipped_driver(driver: str, reason: str, checks: list) -> dict:
    """The result of a driver the run could not test at all (every check skipped)."""
    return {"driver": driver, "status": "skipped", "reason": reason, "duration_s": 0.0,
            "target": {"driver": driver},
            "checks": [{"id": c.id, "statement": c.statement, "outcome": "skipped",
                        "time_s": 0.0, "reason": reason, "notes": []} for c in checks]}


def load_run(run_dir: Path) -> list[dict]:
    """Every driver's results in a run directory, in the order they were written."""
    found = [json.loads(p.read_text()) for p in run_dir.glob(f"*/{RESULTS}")]
    return sorted(found, key=lambda r: r.get("started", ""))


def counts(result: dict) -> dict[str, int]:
    out = dict.fromkeys(OUTCOMES, 0)
    for item in result["checks"]:
        out[item["outcome"]] = out.get(item["outcome"], 0) + 1
    return out


def failed_ids(result: dict) -> set[str]:
    return {c["id"] for c in result["checks"] if c["outcome"] in ("failed", "error")}


def run_ok(results: list[dict]) -> bool:
    return all(r.get("status") != "error" and not failed_ids(r) for r in results)


def _rows(results: list[dict]) -> list[tuple[str, str]]:
    """(id, statement) of every check in any driver's results, in first-seen order."""
    seen: dict[str, str] = {}
    for result in results:
        for item in result["checks"]:
            seen.setdefault(item["id"], item["statement"])
    return list(seen.items())


def _outcome(result: dict, check_id: str) -> dict | None:
    return next((c for c in result["checks"] if c["id"] == check_id), None)


def symbol(item: dict | None) -> str:
    """A check's outcome as a report cell: a passed check with warnings says so."""
    if item is None:
        return SYMBOL[None]
    if item["outcome"] == "passed" and item.get("warnings"):
        return "pass (**warning**)"
    return SYMBOL[item["outcome"]]


def explanation(item: dict) -> str:
    """A check's reason, with its warnings and notes (what it observed on the side)."""
    notes = "; ".join(item.get("notes") or [])
    reason = "; ".join([*(f"warning: {w}" for w in item.get("warnings") or []),
                        *([item["reason"]] if item.get("reason") else [])])
    if notes:
        return f"{reason} (notes: {notes})" if reason else f"notes: {notes}"
    return reason


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def markdown(results: list[dict], run_id: str) -> str:
    drivers = [r["driver"] for r in results]
    lines = [f"# Driver conformance — run {run_id}", ""]
    lines += ["| driver | kind | scope | passed | failed | errors | skipped | time |",
              "|---|---|---|---|---|---|---|---|"]
    for r in results:
        n, t = counts(r), r.get("target", {})
        time_s = f"{r.get('duration_s', 0.0):.1f} s"
        if r.get("status") == "skipped":
            time_s = f"not run: {r.get('reason', '')}"
        elif r.get("status") == "error":
            time_s = f"run failed: {_one_line(r.get('reason', ''), 120)}"
        lines.append(f"| {r['driver']} | {t.get('kind', '')} | {t.get('scope', '')} | "
                     f"{n['passed']} | {n['failed']} | {n['error']} | {n['skipped']} | "
                     f"{time_s} |")
    lines += ["", "## Checks by driver", ""]
    lines.append("| check | statement | " + " | ".join(drivers) + " |")
    lines.append("|---|---|" + "---|" * len(drivers))
    for check_id, statement in _rows(results):
        cells_ = [symbol(_outcome(r, check_id)) for r in results]
        lines.append(f"| {check_id} | {statement} | " + " | ".join(cells_) + " |")
    lines += _differences(results)
    failed_runs = [r for r in results if r.get("status") == "error"]
    if failed_runs:
        lines += ["", "## Runs that could not be made", ""]
        lines += [f"- {r['driver']}: {' '.join(str(r.get('reason', '')).split())}"
                  for r in failed_runs]
    lines += ["", "## Every check", "",
              "| driver | check | outcome | time | reason |", "|---|---|---|---|---|"]
    for r in results:
        for c in r["checks"]:
            reason = _one_line(explanation(c)).replace("|", "\\|")
            lines.append(f"| {r['driver']} | {c['id']} | {symbol(c)} | "
                         f"{c['time_s']:.2f} s | {reason} |")
    return "\n".join(lines) + "\n"


def _differences(results: list[dict]) -> list[str]:
    """The engine each driver ran on, and the version differences its checks accepted
    (a real engine older than the Docker the checks follow)."""
    real = [r for r in results if r.get("engine") == "docker"]
    if not real:
        return []
    lines = ["", "## Engine and version differences", ""]
    for r in real:
        accepted = [(c["id"], d) for c in r["checks"] for d in c.get("differences") or []]
        lines.append(f"- {r['driver']}: real Docker Engine {r.get('engine_version') or '?'}; "
                     + (", ".join(f"{d} in {cid}" for cid, d in accepted) if accepted
                        else "no version difference met"))
    return lines


_CSS = """
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: left; vertical-align: top; }
td.passed { background: #d8f0d0; } td.failed, td.error { background: #f6c9c4; }
td.skipped { background: #eee; color: #555; }
"""


def html_report(results: list[dict], run_id: str) -> str:
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>Driver conformance {e(run_id)}</title><style>{_CSS}</style></head><body>",
           f"<h1>Driver conformance — run {e(run_id)}</h1>",
           "<table><tr><th>driver</th><th>kind</th><th>scope</th><th>passed</th>"
           "<th>failed</th><th>errors</th><th>skipped</th><th>time</th></tr>"]
    for r in results:
        n, t = counts(r), r.get("target", {})
        time_s = f"{r.get('duration_s', 0.0):.1f} s"
        if r.get("status") in ("skipped", "error"):
            time_s = f"{r['status']}: {_one_line(r.get('reason', ''), 160)}"
        out.append(f"<tr><td>{e(r['driver'])}</td><td>{e(str(t.get('kind', '')))}</td>"
                   f"<td>{e(str(t.get('scope', '')))}</td><td>{n['passed']}</td>"
                   f"<td>{n['failed']}</td><td>{n['error']}</td><td>{n['skipped']}</td>"
                   f"<td>{e(time_s)}</td></tr>")
    out.append("</table><h2>Checks by driver</h2><table><tr><th>check</th><th>statement</th>"
               + "".join(f"<th>{e(r['driver'])}</th>" for r in results) + "</tr>")
    for check_id, statement in _rows(results):
        out.append(f"<tr><td>{e(check_id)}</td><td>{e(statement)}</td>")
        for r in results:
            c = _outcome(r, check_id)
            outcome = c["outcome"] if c else ""
            title = e(_one_line(c.get("reason", ""))) if c else ""
            out.append(f"<td class='{outcome}' title='{title}'>{e(outcome or '-')}</td>")
        out.append("</tr>")
    out.append("</table><h2>Every check</h2><table><tr><th>driver</th><th>check</th>"
               "<th>outcome</th><th>time</th><th>reason</th></tr>")
    for r in results:
        for c in r["checks"]:
            out.append(f"<tr><td>{e(r['driver'])}</td><td>{e(c['id'])}</td>"
                       f"<td class='{c['outcome']}'>{e(c['outcome'])}</td>"
                       f"<td>{c['time_s']:.2f} s</td><td>{e(explanation(c))}</td></tr>")
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"


def junit_xml(run_dir: Path, results: list[dict]) -> str:
    """The run's JUnit XML: every driver's test suite as pytest wrote it
    (`<driver>/junit.xml`), under one root that adds up their counts. A driver whose
    pytest wrote none (it could not run) is in the Markdown and HTML reports only."""
    root = ET.Element("testsuites", name="cnm-conformance")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_time = 0.0
    for r in results:
        path = run_dir / r["driver"] / JUNIT
        if not path.exists():
            continue
        for suite in ET.parse(path).getroot().iter("testsuite"):
            root.append(suite)
            for key in totals:
                totals[key] += int(suite.get(key, "0"))
            total_time += float(suite.get("time", "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_reports(run_dir: Path) -> dict[str, Path]:
    """junit.xml, report.md and report.html of every driver run in `run_dir`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    results = load_run(run_dir)
    run_id = run_dir.name
    paths = {"junit": run_dir / JUNIT, "markdown": run_dir / "report.md",
             "html": run_dir / "report.html"}
    paths["junit"].write_text(junit_xml(run_dir, results))
    paths["markdown"].write_text(markdown(results, run_id))
    paths["html"].write_text(html_report(results, run_id))
    return paths
