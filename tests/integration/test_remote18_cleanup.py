"""Sandbox keys are mounts on the machine: `lab down` and `cnm clean` after a SIGKILL
leave none of them (nor the namespaces they hold) behind. A plugin's failing Leave is
in the lab's log, as in dockerd's, and the container goes anyway."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cnm
from leftovers import assert_nothing_left, backstop, lab_net_namespaces, machine_state, wait_gone

from emulator.lab.state import RunDir

PLUGIN = Path(__file__).parent / "plugins" / "recording.py"


def docker(name: str, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_HOST": f"unix://{RunDir(name).socket('h1')}"}
    return subprocess.run(["docker", *argv], capture_output=True, text=True, env=env,
                          timeout=60)


def keyed_container(name: str, tmp_path: Path,
                    *options: str) -> tuple[subprocess.Popen, Path]:
    """A lab with a plugin container on h1; the plugin process and the container's key."""
    up = run_cnm("lab", "up", "--name", name, timeout=180)
    assert up.returncode == 0, up.stderr
    sock = RunDir(name).path / "plugins" / "h1" / "rk.sock"
    plugin = subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", "exec", "--lab", name, "h1", "--",
         sys.executable, str(PLUGIN), str(sock), str(tmp_path / "rk.jsonl"), *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not sock.exists():
        assert plugin.poll() is None, plugin.stderr.read() if plugin.stderr else ""
        assert time.monotonic() < deadline, "the plugin never made its socket"
        time.sleep(0.05)
    for argv in (("network", "create", "-d", "rk", "--subnet", "10.191.0.0/24", "keyed"),
                 ("run", "-d", "--name", "c1", "--network", "keyed", "busybox", "sleep",
                  "600")):
        done = docker(name, *argv)
        assert done.returncode == 0, done.stderr
    keys = list((RunDir(name).path / "netns" / "h1").iterdir())
    assert len(keys) == 1 and str(keys[0]) in Path("/proc/1/mountinfo").read_text()
    return plugin, keys[0]


def test_lab_down_unmounts_the_sandbox_keys(tmp_path: Path) -> None:
    before = machine_state()
    name = "rp" + secrets.token_hex(3)
    plugin = None
    try:
        plugin, key = keyed_container(name, tmp_path)
        assert run_cnm("lab", "down", name).returncode == 0
        assert str(key) not in Path("/proc/1/mountinfo").read_text()
        assert_nothing_left(name)
        assert machine_state() == before
    finally:
        if plugin is not None:
            plugin.terminate()
            plugin.wait(10)
        backstop(name)


def test_clean_after_a_sigkill_unmounts_the_sandbox_keys(tmp_path: Path) -> None:
    before = machine_state()
    name = "rp" + secrets.token_hex(3)
    plugin = None
    try:
        plugin, key = keyed_container(name, tmp_path)
        state = RunDir(name).read()
        assert state is not None
        namespaces = lab_net_namespaces(name, state)
        os.kill(state.owner.pid, signal.SIGKILL)
        assert wait_gone(state.owner.pid, 30)
        plugin.terminate()
        plugin.wait(10)
        cleaned = run_cnm("clean", name)
        assert cleaned.returncode == 0, cleaned.stderr
        assert str(key) not in Path("/proc/1/mountinfo").read_text()
        assert_nothing_left(name, namespaces)
        assert machine_state() == before
    finally:
        if plugin is not None and plugin.poll() is None:
            plugin.terminate()
            plugin.wait(10)
        backstop(name)


def test_a_failing_leave_is_in_the_lab_log_and_rm_f_goes_on(tmp_path: Path) -> None:
    name = "rp" + secrets.token_hex(3)
    plugin = None
    try:
        plugin, key = keyed_container(name, tmp_path, "--fail", "Leave")
        removed = docker(name, "rm", "-f", "c1")
        assert removed.returncode == 0, removed.stderr
        assert not key.exists()
        assert docker(name, "network", "rm", "keyed").returncode == 0
        logs = run_cnm("lab", "logs", name).stdout
        assert ("WARNING emulator.drivers.remote.driver: driver error disconnecting container "
                "from network keyed: plugin rk: remote: recording: NetworkDriver.Leave fails "
                "on purpose") in logs
        assert run_cnm("lab", "down", name).returncode == 0
    finally:
        if plugin is not None:
            plugin.terminate()
            plugin.wait(10)
        backstop(name)
