"""A user other than root, running the real `cnm` process, denied a file or directory
of root's: one line naming it and the command to run as root, exit status 1, never a
bare `[Errno 13]` or a traceback. (Commands that need root are refused before they
start: test_inputs.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
NOBODY = "65534"


def as_nobody(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing")
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         "env", f"PYTHONPATH={CHECKOUT}", sys.executable, "-m", "emulator.cli", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A directory of root's that nobody may enter and read but not write, holding a
    topology only root may read (pytest's tmp_path is root's alone: nobody cannot
    enter it)."""
    path = Path(tempfile.mkdtemp(prefix="cl-nonroot-"))
    try:
        path.chmod(0o755)
        (path / "lab.yaml").write_text("name: demo\n")
        (path / "lab.yaml").chmod(0o600)
        yield path
    finally:
        shutil.rmtree(path)


def test_a_file_only_root_may_read_says_run_as_root(private_dir: Path) -> None:
    result = as_nobody("topology", "check", "lab.yaml", cwd=private_dir)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == ("cnm: lab.yaml: Permission denied; run as root: "
                             "sudo cnm topology check lab.yaml\n")


def test_a_directory_only_root_may_write_says_run_as_root(private_dir: Path) -> None:
    results = private_dir / "results"
    run = results / "tour" / "20260101-000000-cl0001"
    run.mkdir(parents=True)
    (run / "meta.json").write_text('{"experiment": "tour", "run_id": "20260101-000000-cl0001",'
                                   ' "verdict": "ok"}')
    result = as_nobody("report", "--results", str(results), cwd=private_dir)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"cnm: {results}/report: Permission denied; run as root: "
                                    f"sudo cnm report --results {results}")

