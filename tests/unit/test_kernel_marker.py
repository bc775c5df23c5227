"""`-m "not kernel"` selects exactly the unit tests, `-m kernel` the integration tests."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def collect(marker: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", marker, "tests"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def selected(run: subprocess.Popen) -> tuple[list[str], int]:
    """The test ids collected, and how many tests there are in all."""
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    total = re.search(r"(\d+)/(\d+) tests collected", out)
    assert total, out
    return [line for line in out.splitlines() if "::" in line], int(total.group(2))


def test_the_kernel_marker_splits_unit_from_integration_tests() -> None:
    unit_run, kernel_run = collect("not kernel"), collect("kernel")
    unit, total = selected(unit_run)
    kernel, _ = selected(kernel_run)
    assert unit and all(test.startswith("tests/unit/") for test in unit)
    assert kernel and all(test.startswith("tests/integration/") for test in kernel)
    assert len(unit) + len(kernel) == total
    assert "tests/unit/test_kernel_marker.py::" + \
        "test_the_kernel_marker_splits_unit_from_integration_tests" in unit
