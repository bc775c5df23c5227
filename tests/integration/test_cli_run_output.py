"""`cnm run` as a person reads it: a few lines, the long output in files of the run,
and a verdict and exit status that tell "differs from Docker" from "could not run"."""

from __future__ import annotations

import secrets
from pathlib import Path

from conftest import run_cnm

MAX_LINES = 40  # the bound for a whole default run; two experiments stay far below


def test_cnm_run_prints_a_few_lines_and_files_the_truth_tables(tmp_path: Path) -> None:
    lab = "qt" + secrets.token_hex(3)
    done = run_cnm("run", "tour", "isolation", "--param", f"lab={lab}", "--results",
                   str(tmp_path), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) <= MAX_LINES, done.stdout + done.stderr
    assert "\r" not in done.stdout and "\x1b[" not in done.stdout, "no bar redraws in a pipe"
    assert "icmp diff" not in done.stdout and "dns section\n" not in done.stdout
    printed = done.stdout.splitlines()
    assert printed[-1].startswith("report: ") and Path(printed[-1].split()[1]).is_file()
    table = printed[-6:-2]  # a row, its headline, a row, its headline; then the report
    rows = {line.split()[0]: line.split()[1] for line in table[0::2]}
    assert rows == {"tour": "ok", "isolation": "ok"}, done.stdout
    (tour,) = (tmp_path / "tour").iterdir()
    (isolation,) = (tmp_path / "isolation").iterdir()
    assert "replaying the walkthrough" in (tour / "progress.log").read_text()
    tables = (isolation / "truth-tables.txt").read_text()
    assert "icmp diff" in tables and " !" not in tables.split("icmp diff")[1][:2000]
    for name in ("overlay-truth-tables.txt", "dns-truth-tables.txt", "published-cells.txt",
                 "vip-cells.txt", "progress.log"):
        assert (isolation / name).stat().st_size > 0, name


def test_a_topology_given_to_the_tour_is_an_error_not_a_difference(tmp_path: Path) -> None:
    done = run_cnm("run", "tour", "--topology", "x", "--results", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "cnm run: ERROR: tour takes no --topology (it is for: differential, isolation)"]
    assert not (tmp_path / "tour").exists()
