"""The report as a person sees it: `cnm run tour isolation`, `cnm report`, and the page
opened in headless Chromium (Debian's `chromium`, installed by `install.sh --test`).

Chromium runs in a network namespace of its own with nothing in it (`unshare --net`):
the page is a local file, and the browser's background services must not reach out
from the machine. The page reports, once loaded, how many images it has, how many
the browser decoded and how many tables (data-* attributes of <body>); a screenshot
is kept beside the report.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from conftest import run_cnm

CHROMIUM = shutil.which("chromium")
QUIET = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--virtual-time-budget=10000"]


def chromium(*args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM, "chromium is not installed: `bash scripts/install.sh --test` installs it"
    return subprocess.run(["unshare", "--net", "--", CHROMIUM, *QUIET, *args],
                          capture_output=True, text=True, timeout=120)


def test_the_report_opens_in_chromium_with_every_image_and_table(tmp_path: Path) -> None:
    results = tmp_path / "results"
    ran = run_cnm("run", "tour", "isolation", "--results", str(results), timeout=900)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    report = tmp_path / "report"
    built = run_cnm("report", str(results), "-o", str(report))
    assert built.returncode == 0, built.stderr
    page = report / "index.html"
    pngs = list(results.rglob("*.png"))
    assert page.is_file() and pngs

    dom = chromium("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:2000]
    counts = dict(re.findall(r'data-([a-z-]+)="(\d+)"', body.group(1)))
    assert int(counts["images"]) >= len(pngs)
    assert counts["images-loaded"] == counts["images"], counts
    assert int(counts["tables"]) > 2
    for experiment in ("tour", "isolation"):
        assert f'id="{experiment}"' in dom.stdout or f">{experiment}<" in dom.stdout

    screenshot = report / "screenshot.png"
    shot = chromium(f"--screenshot={screenshot}", "--window-size=1280,2400", page.as_uri())
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 20_000
