"""Nothing outlives a lab: killed mid-build, signalled, or left by an exception.

A lab's links, addresses and rules live only in namespaces its processes hold, so
"nothing left" is checked as: no run directory, no process marked CNM_LAB=<lab>.,
and none of the network namespaces the lab's processes were in still held by any
process (as its namespace, a thread's, or an open file descriptor).
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

from emulator import Lab, LabError
from emulator.fabric.processes import ProcessId, start_time
from emulator.lab import control
from emulator.lab.cleanup import clean, marked_processes
from emulator.lab.state import RUN_ROOT, LabState, RunDir, owner_of_marker

REPO = Path(__file__).resolve().parents[2]
MANY = 150

# -- helpers -------------------------------------------------------------------


def marked(name: str) -> list[ProcessId]:
    """Live processes that carry CNM_LAB=<name>.<owner pid>.<owner start>."""
    return [proc for _, proc in marked_processes(f"CNM_LAB={name}.".encode())]


def net_inode_of(path: str) -> str | None:
    """'net:[4026532...]' for a /proc .../ns/net or fd link, or None."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return target if target.startswith("net:[") else None


def lab_net_namespaces(name: str, state: LabState | None) -> set[str]:
    """The network namespaces of every process of the lab that is alive now."""
    procs = set(marked(name))
    if state is not None:
        procs.update(state.all_processes())
    own = net_inode_of("/proc/self/ns/net")
    machine = net_inode_of("/proc/1/ns/net")
    found = set()
    for proc in procs:
        inode = net_inode_of(f"/proc/{proc.pid}/ns/net")
        if inode is not None and proc.alive():
            found.add(inode)
    assert own not in found and machine not in found, "a lab process is in the machine's netns"
    return found


def net_namespaces_in_use() -> set[str]:
    """Every network namespace some process holds: its own, a thread's, or an open fd."""
    used = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        used.add(net_inode_of(f"/proc/{entry}/ns/net"))
        for sub in ("task", "fd"):
            try:
                names = os.listdir(f"/proc/{entry}/{sub}")
            except OSError:
                continue
            for item in names:
                link = (f"/proc/{entry}/task/{item}/ns/net" if sub == "task"
                        else f"/proc/{entry}/fd/{item}")
                used.add(net_inode_of(link))
    used.discard(None)
    return used


def assert_nothing_left(name: str, namespaces: set[str] = frozenset()) -> None:
    assert not RunDir(name).exists(), f"run directory of {name} left behind"
    assert not (RUN_ROOT / f".{name}.log").exists(), f"start log of {name} left behind"
    assert not marked(name), f"processes of {name} left behind"
    held = namespaces & net_namespaces_in_use()
    assert not held, f"network namespaces of {name} still in use: {sorted(held)}"


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


def wait_gone(pid: int, timeout: float) -> bool:
    """Block until process `pid` has exited (zombie or reaped), at most `timeout` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def backstop(name: str) -> None:
    """Remove lab `name` whatever state a failed test left it in; only this lab."""
    if RunDir(name).exists():
        state = RunDir(name).read()
        if state is not None and state.owner.alive():
            run_cnm("lab", "down", name)
    clean(only=name)
    (RUN_ROOT / f".{name}.log").unlink(missing_ok=True)


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
