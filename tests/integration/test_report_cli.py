"""`cnm report` on what a real `cnm run tour` wrote: the page has the headline table, the
tour's section and one embedded image per plot of the run."""

from __future__ import annotations

from html.parser import HTMLParser

from conftest import run_cnm


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.headings: list[str] = []
        self.first_row: list[str] = []
        self._heading: str | None = None
        self._tables = 0
        self._cell: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        elif tag == "h2":
            self._heading = ""
        elif tag == "table":
            self._tables += 1
        elif tag == "th" and self._tables == 1:
            self._cell = ""

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "h2" and self._heading is not None:
            self.headings.append(self._heading.strip())
            self._heading = None
        elif tag == "th" and self._cell is not None:
            self.first_row.append(self._cell.strip())
            self._cell = None


def test_report_of_a_real_tour_run(tmp_path):
    done = run_cnm("run", "tour", "--results", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (tmp_path / "tour").iterdir()

    out = tmp_path / "report"
    made = run_cnm("report", str(tmp_path / "tour"), "-o", str(out))

    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.strip() == str(out / "index.html")
    page = Page((out / "index.html").read_text())
    assert page.first_row[:3] == ["experiment", "verdict", "key figures"]
    assert "tour: ok" in page.headings and "Environment" in page.headings
    plots = sorted(run_dir.rglob("*.png"))
    assert len(page.images) == len(plots)
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    markdown = (out / "index.md").read_text()
    assert "## tour: ok" in markdown and "observations.csv" in markdown
