"""README.md runs as written: every shell block in order, every YAML block through
`cnm topology check`, every Python block through pytest-markdown-docs.

The blocks run as root from a scratch directory that has the checkout's `.venv/bin`
(or, in a checkout without one, small stand-ins that run this checkout's code), with
CNM_LAB_NAME set to a lab name of this test, so that `cnm lab up`, `Lab.default()`
and every command that acts on one lab mean the test's lab and no other. Directives
(tests/readme_blocks.py) skip a block with a reason, run it on a fresh lab, or write
it as a file the others use. Afterwards nothing of the test's labs may be left.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from leftovers import assert_nothing_left, backstop
from readme_blocks import README, Block, read_blocks, shell_script

from emulator.lab.state import RunDir, all_run_dirs

CHECKOUT = README.parent
BLOCK_TIMEOUT_S = 600
LAB = "cl" + secrets.token_hex(3)
BLOCKS = read_blocks()
RUN = [b for b in BLOCKS if b.language in ("sh", "yaml") and b.directive != "skip"]


def _stand_ins(bin_dir: Path) -> None:
    """`.venv/bin/{cnm,mesh,pytest,python}` that run this checkout's code with the
    interpreter running the tests."""
    bin_dir.mkdir(parents=True)
    path = os.pathsep.join([str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])])
    for name, module in (("cnm", "emulator.cli"), ("mesh", "emulator.mesh"),
                         ("pytest", "pytest")):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nPYTHONPATH={path} exec {sys.executable} -m {module} "$@"\n')
        script.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)


def _named_namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


@pytest.fixture(scope="module")
def before() -> tuple[set[str], set[str]]:
    """The labs (run directories) and named network namespaces before any block ran."""
    return {d.name for d in all_run_dirs()}, _named_namespaces()


@pytest.fixture(scope="module")
def workdir(before) -> Iterator[Path]:
    """The directory the blocks run in, with `.venv` and the files blocks declare."""
    path = Path(tempfile.mkdtemp(prefix=f"readme-{LAB}-"))
    try:
        venv = CHECKOUT / ".venv"
        if (venv / "bin" / "cnm").exists():
            (path / ".venv").symlink_to(venv)
        else:
            _stand_ins(path / ".venv" / "bin")
        for block in BLOCKS:
            if block.directive == "file":
                (path / block.argument).write_text(block.text)
        yield path
    finally:
        backstop(LAB)
        shutil.rmtree(path)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "CNM_"))}
    env["CNM_LAB_NAME"] = LAB
    return env


def _run(argv: list[str], cwd: Path, timeout: float = BLOCK_TIMEOUT_S
         ) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=_environment(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _cnm(workdir: Path, *args: str) -> None:
    result = _run([str(workdir / ".venv/bin/cnm"), *args], workdir, timeout=300)
    assert result.returncode == 0, f"cnm {' '.join(args)}: {result.stderr}"


@pytest.mark.parametrize("block", RUN, ids=lambda b: b.name)
def test_block_runs_as_written(workdir: Path, block: Block) -> None:
    if block.language == "yaml":
        path = workdir / (block.argument if block.directive == "file" else "block.yaml")
        path.write_text(block.text)
        result = _run([str(workdir / ".venv/bin/cnm"), "topology", "check", path.name],
                      workdir)
        assert result.returncode == 0, f"{block.name}: {result.stderr}"
        return
    if block.directive == "lab":
        _cnm(workdir, "lab", "up")
    try:
        result = _run(["bash", "-c", shell_script(block)], workdir)
    finally:
        if block.directive == "lab":
            _cnm(workdir, "lab", "down")
        left = RunDir(LAB).exists()
        if left:
            backstop(LAB)  # so that the next block starts without it
    assert result.returncode == 0, (f"{block.name} failed:\n{result.stderr[-6000:]}\n"
                                    f"stdout:\n{result.stdout[-3000:]}")
    assert not left, f"{block.name} left lab {LAB} behind"


def test_python_blocks_run_as_written(workdir: Path) -> None:
    """pytest-markdown-docs runs every ```python block (each makes its own lab)."""
    try:
        import pytest_markdown_docs  # noqa: F401
    except ImportError:
        pytest.fail("pytest-markdown-docs is missing: pip install -e '.[test]'")
    result = _run([sys.executable, "-m", "pytest", "--markdown-docs", str(README), "-q",
                   "-p", "no:cacheprovider", f"--rootdir={workdir}"], workdir)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    python_blocks = sum(b.language == "python" for b in BLOCKS)
    assert f"{python_blocks} passed" in result.stdout.splitlines()[-1]


def test_nothing_of_the_readme_labs_is_left(workdir: Path, before) -> None:
    """After every block: no file, process or cgroup of the test's lab, no lab made
    meanwhile by a process that is gone (the experiments' and the kit's own labs), and
    no new named network namespace."""
    assert_nothing_left(LAB)
    labs_before, namespaces_before = before
    left = [d.name for d in all_run_dirs() if d.name not in labs_before
            and ((state := d.read()) is None or not state.owner.alive())]
    assert not left, f"labs left by processes that are gone: {left}"
    assert _named_namespaces() <= namespaces_before
