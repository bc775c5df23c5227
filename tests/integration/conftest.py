"""Integration tests: real namespaces, real links, real packets. Root only.

Every test runs in labs of its own world namespace; the session ends by checking
that the machine's own namespace is exactly as it was and no lab process or run
directory is left.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import Lab
from emulator.lab.cleanup import marked_processes
from emulator.lab.state import RunDir, all_run_dirs, owner_of_marker

CNM = [sys.executable, "-m", "emulator.cli"]
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(config, items):
    """Every test here is marked `kernel` (and skipped without root). A conftest's
    `pytestmark` would mark nothing: pytest reads it from test modules only."""
    skip = pytest.mark.skip(reason="integration tests need root")
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.kernel)
            if os.geteuid() != 0:
                item.add_marker(skip)


def machine_snapshot() -> dict[str, str]:
    def out(argv: list[str]) -> str:
        return subprocess.run(argv, capture_output=True, text=True).stdout

    names = sorted(line.split(":")[1].strip().split("@")[0]
                   for line in out(["ip", "-o", "link", "show"]).splitlines())
    return {
        "links": " ".join(names),
        "addresses": out(["ip", "-o", "addr", "show"]),
        "routes": out(["ip", "route", "show", "table", "all"]),
        "netns": out(["ip", "netns", "list"]),
        "nft": out(["nft", "list", "ruleset"]),
    }


@pytest.fixture(scope="session", autouse=True)
def machine_untouched():
    before = machine_snapshot()
    labs_before = {d.name for d in all_run_dirs()}
    yield
    after = machine_snapshot()
    for key in before:
        assert after[key] == before[key], f"the machine's own {key} changed"
    labs_after = {d.name for d in all_run_dirs()}
    left = [name for name in labs_after - labs_before if _abandoned_dir(name)]
    assert not left, f"run directories left: {left}"
    leftovers = [m for m, _ in marked_processes(b"CNM_LAB=") if _abandoned(m)]
    assert not leftovers, f"lab processes left: {leftovers}"


def _abandoned(marker: str) -> bool:
    """A lab process whose owner is this test session, or is gone: a leak.
    (Labs of other live processes, e.g. a concurrent test run, are theirs.)"""
    parsed = owner_of_marker(marker)
    if parsed is None:
        return False
    _, owner = parsed
    return owner.pid == os.getpid() or not owner.alive()


def _abandoned_dir(name: str) -> bool:
    state = RunDir(name).read()
    return state is None or state.owner.pid == os.getpid() or not state.owner.alive()


def lab_name() -> str:
    return "t" + secrets.token_hex(3)


@pytest.fixture(scope="module")
def lab():
    with Lab.default(lab_name()) as running:
        yield running


def _reset(host) -> None:
    engine = host.engine
    engine.remove_containers(list(engine.containers), force=True)
    for network in list(engine.networks.values()):
        if not network.predefined:
            engine.remove_network(network.id)


@pytest.fixture
def h1(lab):
    host = lab.host("h1")
    yield host
    _reset(host)


@pytest.fixture
def h2(lab):
    host = lab.host("h2")
    yield host
    _reset(host)


def ping(container, address) -> bool:
    return container.exec(["ping", "-c", "1", "-W", "1", str(address)]).exit_code == 0


TCP_PROBE = (
    "import socket, sys\n"
    "s = socket.socket(); s.settimeout(1.0)\n"
    "try:\n"
    "    s.connect((sys.argv[1], int(sys.argv[2]))); print('open')\n"
    "except ConnectionRefusedError: print('refused')\n"
    "except OSError as exc: print('blocked', exc)\n"
)


def tcp_reaches(container, address, port: int = 9) -> bool:
    """A TCP SYN that gets any answer (SYN-ACK or RST) reached the target's kernel."""
    out = container.exec(["python3", "-c", TCP_PROBE, str(address), str(port)]).stdout
    return out.split()[0] in ("open", "refused")


def links_of(result_stdout: str) -> list[str]:
    return sorted(line.split()[0].split("@")[0] for line in result_stdout.splitlines() if line)


def run_cnm(*args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CNM, *args], capture_output=True, text=True, timeout=timeout,
                          check=check, cwd=Path(__file__).resolve().parents[2])
