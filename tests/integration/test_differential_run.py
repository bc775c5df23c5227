"""`cnm run differential` end to end, as a user runs it: an emulated lab and a real
one side by side, every part compared, every difference classified, nothing left."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from conftest import run_cnm
from leftovers import assert_nothing_left


def test_the_differential_classifies_every_difference_and_leaves_nothing(
        tmp_path: Path) -> None:
    done = run_cnm("run", "differential", "--results", str(tmp_path), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = (tmp_path / "differential").iterdir()
    for name in ("isolation.csv", "dns.csv", "published.csv", "facts.csv", "transcripts.csv",
                 "overlay.csv",
                 "differences.csv", "agreement.csv", "agreement.png", "summary.md",
                 "meta.json"):
        assert (run / name).is_file(), f"{name} missing"
    sections = {row["section"]: row for row in csv.DictReader(open(run / "agreement.csv"))}
    assert set(sections) == {"isolation", "dns", "published", "facts", "transcripts", "overlay"}
    for section in ("isolation", "dns", "published"):
        assert float(sections[section]["agreement"]) >= 0.99, section
    assert int(sections["dns"]["items"]) > 300 and int(sections["published"]["items"]) > 30
    assert all(row["differ_unclassified"] == "0" for row in sections.values())
    differences = list(csv.DictReader(open(run / "differences.csv")))
    assert differences and all(d["class"] in ("version", "kernel", "defect")
                               for d in differences)
    assert all(d["source"].startswith("https://") for d in differences
               if d["class"] == "version")
    summary = (run / "summary.md").read_text()
    labs = re.findall(r"lab `(d[er][0-9a-f]{4})`", summary)
    assert len(labs) == 2
    for lab in labs:
        assert_nothing_left(lab)
