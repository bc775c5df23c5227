"""A container's processes when it has a PID namespace of its own, and the freezer,
on the real kernel (no network namespace involved: a PID namespace made with
unshare(1) stands for a container's)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest

from emulator.fabric import containerprocs

WAIT_S = 10.0


def _children(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(name))
    return found


def _wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


@pytest.fixture
def sandboxed():
    """(unshare's pid, the PID 1 of its new PID namespace) running a shell and two sleeps."""
    outer = subprocess.Popen(["unshare", "--pid", "--fork", "sh", "-c",
                              "sleep 300 & sleep 300 & wait"])
    try:
        pid1 = _wait_for(lambda: (_children(outer.pid) or [None])[0], "the namespace's PID 1")
        _wait_for(lambda: len(_children(pid1)) == 2, "the two sleeps")
        yield outer.pid, pid1
    finally:
        outer.send_signal(signal.SIGKILL)  # its PID 1 dies with it, and the sleeps with that
        outer.wait(timeout=WAIT_S)


def test_the_processes_of_a_pid_namespace_are_its_members(sandboxed) -> None:
    outer, pid1 = sandboxed
    members = containerprocs.container_pids(pid1)
    assert members == sorted([pid1, *_children(pid1)])
    assert outer not in members and os.getpid() not in members


def test_the_freezer_stops_every_member_and_lets_them_go(sandboxed) -> None:
    _, pid1 = sandboxed
    parent = f"cnm.mo{secrets.token_hex(3)}.h1"
    freezer = containerprocs.Freezer(parent)
    group = containerprocs.FREEZER / parent / "c1"
    members = containerprocs.container_pids(pid1)
    try:
        freezer.freeze("c1", pid1)
        assert (group / "freezer.state").read_text().strip() == "FROZEN"
        assert sorted(int(p) for p in (group / "cgroup.procs").read_text().split()) == members
    finally:
        freezer.thaw("c1")
    assert not group.exists() and not group.parent.exists()
    root_members = (containerprocs.FREEZER / "cgroup.procs").read_text().split()
    assert {str(p) for p in members} <= set(root_members)
