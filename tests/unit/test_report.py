"""`cnm report` on run directories made here: the page a person reads, the comparison of
two runs, and `--check`'s exit status on a figure made worse."""

from __future__ import annotations

import json
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.report import build_report, previous_runs
from emulator.report.compare import BETTER, CHANGED, NOISE, WORSE, compare_figures
from emulator.report.runs import figures_of, find_runs


def tiny_png() -> bytes:
    """A valid 1×1 PNG, so a browser (or a reader) could show it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def make_run(root: Path, experiment: str, run_id: str, figures: dict[str, float],
             ok: bool = True, plots: tuple[str, ...] = (), rows: int = 3,
             pcaps: tuple[str, ...] = ()) -> Path:
    directory = root / experiment / run_id
    directory.mkdir(parents=True)
    (directory / "meta.json").write_text(json.dumps({
        "experiment": experiment, "run_id": run_id, "ok": ok, "duration_s": 1.5,
        "figures": figures, "commit": "abc1234",
        "versions": {"kernel": "6.1.0-test", "python": "3.11.2"},
    }))
    (directory / "summary.md").write_text(f"# {experiment}\n\nall fine\n")
    lines = ["step,value"] + [f"s{i},{i}" for i in range(rows)]
    (directory / "observations.csv").write_text("\n".join(lines) + "\n")
    for name in plots:
        (directory / name).write_bytes(tiny_png())
    for name in pcaps:
        (directory / name).write_bytes(b"\xd4\xc3\xb2\xa1")
    return directory


class Page(HTMLParser):
    """What a reader sees on the page: headings, images, tables' cells, links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.red_rows: list[list[str]] = []
        self._in: str | None = None
        self._row: list[str] | None = None
        self._row_red = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._in, self._text = tag, ""
        elif tag == "img":
            self.images.append(attributes)
        elif tag == "a":
            self.links.append(attributes.get("href", ""))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row, self._row_red = [], "regressed" in (attributes.get("class") or "")
        elif tag in ("td", "th"):
            self._in, self._text = "cell", ""

    def handle_data(self, data):
        if self._in:
            self._text += data

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3") and self._in == tag:
            self.headings.append(self._text.strip())
            self._in = None
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(self._text.strip())
            self._in = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            if self._row_red:
                self.red_rows.append(self._row)
            self._row = None


def test_figures_carry_units_and_the_ci_the_run_recorded():
    figures = {f.name: f for f in figures_of({"start_api_ms": 12.0, "start_api_ci_ms": 2.0,
                                              "rtt_ms": 0.5, "rtt_ms_ci_low": 0.4,
                                              "rtt_ms_ci_high": 0.7, "cells": 10})}
    assert set(figures) == {"start_api_ms", "rtt_ms", "cells"}
    assert figures["start_api_ms"].text() == "12 ms (95 % CI 10–14)"
    assert figures["rtt_ms"].text() == "0.5 ms (95 % CI 0.4–0.7)"
    assert figures["cells"].text() == "10"


def test_page_has_a_headline_row_and_a_section_per_experiment(tmp_path):
    make_run(tmp_path, "bench-dns", "20260101T000000Z-aaaa",
             {"start_api_ms": 12.0, "start_api_ci_ms": 2.0}, plots=("latency.png",))
    make_run(tmp_path, "isolation", "20260101T000001Z-bbbb", {"wrong": 3}, ok=False,
             plots=("heatmap.png", "dns_heatmap.png"), rows=20, pcaps=("probes-h1.pcap",))
    out = tmp_path / "report"
    index = build_report([tmp_path], out)

    assert index == out / "index.html"
    page = Page(index.read_text())
    headline = page.tables[0]
    assert headline[0][:3] == ["experiment", "verdict", "key figures"]
    rows = {row[0]: row for row in headline[1:]}
    assert rows["bench-dns"][1] == "ok"
    assert "start_api_ms = 12 ms (95 % CI 10–14)" in rows["bench-dns"][2]
    assert rows["isolation"][1] == "DIFFERS" and "wrong = 3" in rows["isolation"][2]
    assert {"bench-dns: ok", "isolation: DIFFERS", "Environment"} <= set(page.headings)

    sources = [img["src"] for img in page.images]
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "isolation: heatmap.png" in [img["alt"] for img in page.images]
    assert "../isolation/20260101T000001Z-bbbb/observations.csv" in page.links
    assert "../isolation/20260101T000001Z-bbbb/probes-h1.pcap" in page.links
    assert all((out / link).exists() for link in page.links if not link.startswith("#"))
    csv_preview = [t for t in page.tables if t and t[0] == ["step", "value"]]
    assert [len(t) - 1 for t in csv_preview] == [3, 8]  # 20 rows: the first 8 shown
    environment = {row[0]: row[1] for row in page.tables[-1][1:]}
    assert environment["kernel"] == "6.1.0-test" and environment["commit"] == "abc1234"
    assert environment["cpu"] == "not recorded"

    markdown = (out / "index.md").read_text()
    assert "## isolation: DIFFERS" in markdown and "## Environment" in markdown
    assert "| bench-dns | ok | start_api_ms = 12 ms (95 % CI 10–14) |" in markdown
    assert "](../isolation/20260101T000001Z-bbbb/heatmap.png)" in markdown


def test_latest_run_of_each_experiment_is_taken_from_a_results_tree(tmp_path):
    make_run(tmp_path, "tour", "20260101T000000Z-aaaa", {})
    make_run(tmp_path, "tour", "20260102T000000Z-bbbb", {})
    make_run(tmp_path, "isolation", "20260101T000000Z-cccc", {})
    runs = find_runs(tmp_path)
    assert [(r.experiment, r.run_id) for r in runs] == [
        ("isolation", "20260101T000000Z-cccc"), ("tour", "20260102T000000Z-bbbb")]
    assert [r.run_id for r in find_runs(tmp_path / "tour")] == ["20260102T000000Z-bbbb"]


@pytest.mark.parametrize(("name", "before", "after", "verdict"), [
    ("emulator_100_s", 0.30, 0.45, WORSE),          # 50 % slower, beyond ±20 %
    ("emulator_100_s", 0.30, 0.33, NOISE),          # 10 %
    ("emulator_100_s", 0.30, 0.15, BETTER),
    ("tcp_gbps", 15.0, 10.0, WORSE),                # a rate: lower is worse
    ("speedup", 5.0, 4.5, NOISE),
    ("wrong", 0, 1, WORSE),                         # correctness: any change
    ("isolation_agreement", 0.99, 0.98, WORSE),
    ("tcp_failures", 10, 15, NOISE),                # Poisson: 5 < 1.96·√25
    ("tcp_failures", 5, 30, WORSE),
    ("cells", 100, 200, CHANGED),                   # no direction: not judged
])
def test_change_verdicts(name, before, after, verdict):
    (change,) = compare_figures("x", figures_of({name: before}), figures_of({name: after}))
    assert change.verdict == verdict


def test_recorded_cis_decide_noise():
    before = figures_of({"rtt_ms": 1.0, "rtt_ci_ms": 0.1})
    overlapping = figures_of({"rtt_ms": 1.5, "rtt_ci_ms": 0.45})  # +50 %, CIs overlap
    apart = figures_of({"rtt_ms": 1.3, "rtt_ci_ms": 0.1})  # +30 %, CIs apart
    assert compare_figures("x", before, overlapping)[0].verdict == NOISE
    (change,) = compare_figures("x", before, apart)
    assert change.verdict == WORSE and change.rule == "95 % CIs apart"


def test_compare_flags_the_worse_figure_red_and_check_fails(tmp_path, capsys):
    a = make_run(tmp_path / "a", "bench-bringup", "20260101T000000Z-aaaa",
                 {"emulator_100_s": 0.30, "speedup": 5.0, "teardown_100_s": 0.07})
    b = make_run(tmp_path / "b", "bench-bringup", "20260102T000000Z-bbbb",
                 {"emulator_100_s": 0.90, "speedup": 5.1, "teardown_100_s": 0.07})
    out = tmp_path / "report"

    status = main(["report", "--compare", str(a), str(b), "--check", "-o", str(out)])

    assert status == 1
    printed = capsys.readouterr()
    assert printed.out.splitlines()[0] == str(out / "index.html")
    assert "WORSE bench-bringup emulator_100_s" in printed.out
    page = Page((out / "index.html").read_text())
    assert [row[0] for row in page.red_rows] == ["emulator_100_s"]
    compare = next(t for t in page.tables if t[0][0] == "figure")
    rows = {row[0]: row for row in compare[1:]}
    assert rows["emulator_100_s"][1:6] == ["s", "0.3 s", "0.9 s", "+0.6", "+200.0 %"]
    assert rows["speedup"][-1] == NOISE and rows["teardown_100_s"][-1] == "same"
    assert "**WORSE**" in (out / "index.md").read_text()


def test_check_passes_when_nothing_is_worse(tmp_path):
    a = make_run(tmp_path / "a", "bench-bringup", "20260101T000000Z-aaaa",
                 {"emulator_100_s": 0.30})
    b = make_run(tmp_path / "b", "bench-bringup", "20260102T000000Z-bbbb",
                 {"emulator_100_s": 0.31})
    assert main(["report", "--compare", str(a), str(b), "--check",
                 "-o", str(tmp_path / "r")]) == 0


def test_a_path_without_runs_is_one_line_not_a_traceback(tmp_path, capsys):
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "r")]) == 1
    assert "no run directory" in capsys.readouterr().err


def test_each_run_is_compared_with_its_previous_run_by_default(tmp_path, capsys):
    make_run(tmp_path, "bench-probes", "20260101T000000Z-aaaa", {"N100_s": 0.7})
    latest = make_run(tmp_path, "bench-probes", "20260102T000000Z-bbbb", {"N100_s": 1.4})
    make_run(tmp_path, "tour", "20260102T000000Z-cccc", {})
    out = tmp_path / "report"

    assert main(["report", "--results", str(tmp_path), "--check", "-o", str(out)]) == 1

    assert "WORSE bench-probes N100_s" in capsys.readouterr().out
    page = Page((out / "index.html").read_text())
    headline = {row[0]: row for row in page.tables[0][1:]}
    assert headline["bench-probes"][-1] == "1 worse"
    assert headline["tour"][-1] == "no baseline"
    assert [row[0] for row in page.red_rows] == ["N100_s"]
    assert main(["report", str(latest), "--no-previous", "--check",
                 "-o", str(tmp_path / "r2")]) == 2  # nothing to check against


def test_previous_runs_are_what_cnm_run_compares_with(tmp_path):
    first = make_run(tmp_path, "tour", "20260101T000000Z-aaaa", {})
    second = make_run(tmp_path, "tour", "20260102T000000Z-bbbb", {})
    only = make_run(tmp_path, "isolation", "20260102T000000Z-cccc", {})
    assert previous_runs([second, only]) == [first]
    assert previous_runs([first]) == []
