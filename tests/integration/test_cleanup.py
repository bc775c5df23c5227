"""Nothing outlives a lab: killed mid-build, signalled, interrupted while `cnm lab up`
waits for it, or left by an exception. What "nothing left" means is leftovers.py's.
"""

from __future__ import annotations

import os
import select
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CNM, lab_name, machine_snapshot, run_cnm
from leftovers import (
    LabNamespaces,
    assert_nothing_left,
    backstop,
    lab_net_namespaces,
    marked,
    wait_gone,
)

from emulator import Lab, LabError
from emulator.fabric.processes import ProcessId, start_time
from emulator.lab import control
from emulator.lab.cleanup import marked_processes
from emulator.lab.state import LabState, RunDir, owner_of_marker

REPO = Path(__file__).resolve().parents[2]
MANY = 150

# -- helpers -------------------------------------------------------------------


def foreign_debris(mine: str) -> list[str]:
    """Other labs that `cnm clean` would touch (dead or state-less): not ours to remove."""
    found = {s.name for s in control.summaries()
             if s.name != mine and s.status not in ("running", "starting")}
    for marker, _ in marked_processes(b"CNM_LAB="):
        parsed = owner_of_marker(marker)
        if parsed is not None and parsed[0] != mine and not parsed[1].alive():
            found.add(parsed[0])
    return sorted(found)


def skip_if_clean_would_touch_others(mine: str) -> None:
    others = foreign_debris(mine)
    if others:
        pytest.skip(f"`cnm clean` would also remove other labs' leftovers: {others}")


def many_containers_topology(count: int) -> str:
    lines = ["name: many", "hosts:", "  h1:", "    networks:", "      front:",
             "        subnet: 10.20.0.0/24", "    containers:"]
    lines += [f"      c{i}: {{network: front}}" for i in range(1, count + 1)]
    return "\n".join(lines) + "\n"


def state_when(name: str, cli: subprocess.Popen, ok, timeout: float) -> LabState:
    """Poll the lab's state file until `ok(state)`; the pace is a bounded wait on the CLI."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = RunDir(name).read()
        if state is not None and ok(state):
            return state
        try:
            cli.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"`cnm lab up` ended early ({cli.returncode}): "
                             f"{cli.stderr.read() if cli.stderr else ''}")
    raise AssertionError(f"the state of {name} never satisfied the condition")


def is_lab_daemon(proc: ProcessId, name: str) -> bool:
    try:
        argv = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (start_time(proc.pid) == proc.started and b"emulator.lab.daemon" in argv
            and name.encode() in argv)


def start_many(tmp_path: Path, name: str) -> subprocess.Popen:
    """`cnm lab up` of a lab of MANY containers, as from a terminal (SIGINT not ignored)."""
    topology = tmp_path / "many.yaml"
    topology.write_text(many_containers_topology(MANY))
    return subprocess.Popen([*CNM, "lab", "up", str(topology), "--name", name], cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def building(name: str, cli: subprocess.Popen) -> LabState:
    """The lab's state once it is well into making its containers."""
    return state_when(name, cli, lambda s: len(s.containers) >= 10, timeout=120)


# -- a lab killed while it builds ------------------------------------------------


def test_lab_killed_mid_build_is_removed_by_clean(tmp_path):
    name = lab_name()
    skip_if_clean_would_touch_others(name)
    topology = tmp_path / "many.yaml"
    topology.write_text(many_containers_topology(MANY))
    links_before = machine_snapshot()["links"]
    cli = subprocess.Popen([*CNM, "lab", "up", str(topology), "--name", name], cwd=REPO,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        state = state_when(name, cli, lambda s: len(s.containers) >= 20, timeout=120)
        namespaces = lab_net_namespaces(name, state)
        assert len(namespaces) >= 2 + 20, "hosts, outside and containers have namespaces"
        owner = state.owner
        assert is_lab_daemon(owner, name), "state.json's owner is not this lab's daemon"

        pidfd = os.pidfd_open(owner.pid)
        try:
            assert start_time(owner.pid) == owner.started
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            assert select.select([pidfd], [], [], 30)[0], "the daemon survived SIGKILL"
        finally:
            os.close(pidfd)
        killed = RunDir(name).read()
        assert killed is not None and not killed.ready, "the lab finished before the kill"
        assert len(killed.containers) < MANY

        try:
            _, err = cli.communicate(timeout=20)
            hung = False
        except subprocess.TimeoutExpired:
            hung = True  # reported below, once the lab is cleaned up

        rows = {s.name: s for s in control.summaries()}
        assert rows[name].status.startswith("dead")
        listed = run_cnm("lab", "ls")
        row = [line for line in listed.stdout.splitlines() if line.split()[0] == name]
        assert len(row) == 1 and "dead" in row[0] and "cnm clean" in row[0]

        skip_if_clean_would_touch_others(name)
        cleaned = run_cnm("clean")
        assert cleaned.returncode == 0, cleaned.stderr
        assert "removed" in cleaned.stdout and name in cleaned.stdout, cleaned.stdout

        if hung:
            _, err = cli.communicate(timeout=30)
        assert cli.returncode != 0
        assert "died while starting" in err
        assert "Traceback" not in err

        assert_nothing_left(name, namespaces)
        assert machine_snapshot()["links"] == links_before
        assert name not in {s.name for s in control.summaries()}
        again = run_cnm("clean")
        assert name not in again.stdout
        assert not hung, ("`cnm lab up` did not return after its daemon was killed; it only "
                          "returned once `cnm clean` ended the lab's containers")
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.communicate()
        backstop(name)


def test_clean_leaves_a_running_lab_alone():
    name = lab_name()
    skip_if_clean_would_touch_others(name)
    try:
        up = run_cnm("lab", "up", "--name", name, timeout=60)
        assert up.returncode == 0, up.stderr
        before = RunDir(name).read()
        assert before is not None
        namespaces = lab_net_namespaces(name, before)

        skip_if_clean_would_touch_others(name)
        cleaned = run_cnm("clean")
        assert cleaned.returncode == 0, cleaned.stderr
        assert f"lab {name} is running; left alone" in cleaned.stdout
        assert f"cnm lab down {name}" in cleaned.stdout

        after = RunDir(name).read()
        assert after == before
        assert all(proc.alive() for proc in after.all_processes())
        assert lab_net_namespaces(name, after) == namespaces
        ping = run_cnm("exec", "--lab", name, "h1", "--", "ping", "-c1", "-W1", "192.0.2.12")
        assert ping.returncode == 0, ping.stdout + ping.stderr

        down = run_cnm("lab", "down", name)
        assert down.returncode == 0, down.stderr
        assert_nothing_left(name, namespaces)
    finally:
        backstop(name)


# -- `cnm lab up` interrupted, or its lab process stopped, while it builds ---------


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]


@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_interrupting_lab_up_while_it_builds_leaves_nothing(tmp_path, sig):
    """Ctrl-C, SIGTERM or SIGKILL of `cnm lab up`: the lab goes as soon as its starter
    does, instead of finishing the build and dying with nothing removed."""
    name = lab_name()
    cli = start_many(tmp_path, name)
    try:
        state = building(name, cli)
        namespaces = lab_net_namespaces(name, state, state.owner.pid)
        cli.send_signal(sig)
        out, err = cli.communicate(timeout=90)
        assert wait_gone(state.owner.pid, 90), "the lab process outlived its starter"
        assert out == "", "an interrupted `lab up` said the lab was up"
        if sig == signal.SIGKILL:
            assert cli.returncode == -signal.SIGKILL
        else:
            assert cli.returncode == 128 + sig
            assert err == (f"cnm: interrupted by {sig.name} before lab {name} was ready; "
                           "nothing of it is left\n")
        finished = RunDir(name).read()
        assert finished is None or not finished.ready
        assert_nothing_left(name, namespaces)
        assert name not in {s.name for s in control.summaries()}
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.communicate()
        backstop(name)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_lab_process_stopped_while_it_builds_fails_lab_up(tmp_path, sig):
    """The lab process stops at once, not after the build, and `lab up` says so."""
    name = lab_name()
    cli = start_many(tmp_path, name)
    try:
        state = building(name, cli)
        namespaces = lab_net_namespaces(name, state, state.owner.pid)
        os.kill(state.owner.pid, sig)
        out, err = cli.communicate(timeout=90)
        assert (cli.returncode, out) == (1, "")
        assert err == (f"cnm: lab {name} was stopped by {sig.name} before it was ready; "
                       "nothing of it is left\n")
        assert wait_gone(state.owner.pid, 30)
        assert_nothing_left(name, namespaces)
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.communicate()
        backstop(name)


# -- `cnm clean NAME` ----------------------------------------------------------------


ONE_CONTAINER = "name: one\nhosts:\n  h1:\n    containers:\n      web: {}\n"


def killed_lab(name: str, topology: Path) -> LabNamespaces:
    """Start a lab, SIGKILL its process; the namespaces it had. Its container's process
    outlives it (the Mininet shells end with the terminal they hang on)."""
    up = run_cnm("lab", "up", str(topology), "--name", name, timeout=60)
    assert up.returncode == 0, up.stderr
    state = RunDir(name).read()
    assert state is not None
    namespaces = lab_net_namespaces(name, state, state.owner.pid)
    os.kill(state.owner.pid, signal.SIGKILL)
    assert wait_gone(state.owner.pid, 30)
    assert marked(name)
    return namespaces


def test_clean_of_one_lab_leaves_the_others_alone(tmp_path):
    dead, other, running = lab_name(), lab_name(), lab_name()
    topology = tmp_path / "one.yaml"
    topology.write_text(ONE_CONTAINER)
    try:
        dead_namespaces = killed_lab(dead, topology)
        other_namespaces = killed_lab(other, topology)
        assert run_cnm("lab", "up", "--name", running, timeout=60).returncode == 0

        logs = run_cnm("lab", "logs", dead)
        assert logs.returncode == 0, logs.stderr
        assert f"building lab {dead}" in logs.stdout, "a dead lab's log is kept until clean"

        cleaned = run_cnm("clean", dead)
        assert cleaned.returncode == 0, cleaned.stderr
        assert cleaned.stdout.startswith(f"removed 1 dead lab(s): {dead} (")
        assert_nothing_left(dead, dead_namespaces)
        rows = {s.name: s.status for s in control.summaries()}
        assert rows[other].startswith("dead") and rows[running] == "running"
        assert marked(other), "`cnm clean NAME` ended another lab's processes"

        alone = run_cnm("clean", running)
        assert alone.stdout == (f"lab {running} is running; left alone (use `cnm lab down "
                                f"{running}`)\nnothing to clean\n")
        assert run_cnm("exec", "--lab", running, "h1", "--", "true").returncode == 0
        assert run_cnm("clean", dead).stdout == "nothing to clean\n"

        cleaned = run_cnm("clean", other)
        assert cleaned.stdout.startswith(f"removed 1 dead lab(s): {other} (")
        assert_nothing_left(other, other_namespaces)
        assert run_cnm("lab", "down", running).returncode == 0
        assert_nothing_left(running)
    finally:
        for name in (dead, other, running):
            backstop(name)


# -- in-process labs ---------------------------------------------------------------

SCRIPT = """\
import signal, sys
from emulator import Lab
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even if inherited
with Lab.default(sys.argv[1]) as lab:
    h1 = lab.host("h1")
    h1.networks.create("front")
    h1.containers.run("web", network="front")
    print("ready", flush=True)
    sys.stdin.read()
print("unreachable: stdin closed", flush=True)
"""


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The next line of the child's stdout, waiting at most `timeout` seconds."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no output within {timeout}s")
    return proc.stdout.readline()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_in_process_lab_is_removed_on_signal(sig):
    name = lab_name()
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, name], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(child, timeout=60)
        assert line.strip() == "ready", line + (child.stderr.read() if child.poll() else "")
        state = RunDir(name).read()
        assert state is not None and state.owner.pid == child.pid
        assert "h1/web" in state.containers
        namespaces = lab_net_namespaces(name, state)
        assert len(namespaces) >= 4  # h1, h2, outside, web (and the world)

        child.send_signal(sig)
        out, err = child.communicate(timeout=60)
        assert "unreachable" not in out
        assert child.returncode != 0
        assert_nothing_left(name, namespaces)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()
        backstop(name)


def test_exception_inside_the_with_block_removes_everything():
    name = lab_name()
    try:
        with pytest.raises(RuntimeError, match="boom"):
            with Lab.default(name) as lab:
                h1 = lab.host("h1")
                h1.networks.create("front")
                web = h1.containers.run("web", network="front")
                assert web.running
                state = RunDir(name).read()
                assert state is not None and state.owner.pid == os.getpid()
                namespaces = lab_net_namespaces(name, state)
                raise RuntimeError("boom")
        assert_nothing_left(name, namespaces)
    finally:
        backstop(name)


def test_a_second_lab_of_the_same_name_is_refused_in_process():
    name = lab_name()
    try:
        with Lab.default(name) as first:
            second = Lab.default(name)
            with pytest.raises(LabError, match=f"cnm lab down {name}"):
                second.start()
            second.stop()  # harmless on a lab that never started; must not touch the first
            assert RunDir(name).read() is not None
            h1 = first.host("h1")
            assert h1.exec(["ping", "-c1", "-W1", str(first.outside_address)]).exit_code == 0
        assert_nothing_left(name)
    finally:
        backstop(name)


def test_a_second_lab_of_the_same_name_is_refused_while_the_cli_runs_one():
    name = lab_name()
    try:
        up = run_cnm("lab", "up", "--name", name, timeout=60)
        assert up.returncode == 0, up.stderr
        with pytest.raises(LabError, match=f"cnm lab down {name}"):
            Lab.default(name).start()
        state = RunDir(name).read()
        assert state is not None and state.owner.alive() and state.ready
        assert run_cnm("exec", "--lab", name, "h2", "--", "true").returncode == 0
        assert run_cnm("lab", "down", name).returncode == 0
        assert_nothing_left(name)
    finally:
        backstop(name)
