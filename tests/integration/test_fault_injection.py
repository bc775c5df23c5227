"""Fault injection: the CLI or the lab process killed at a named step leaves nothing.

Each trial makes the lab process stop at one named step (CNM_FAULT_STEP; see
emulator/faults.py: the step reports "<step> <pid>" on a FIFO and waits), kills
`cnm lab up` or `cnm lab down`, or the lab process, there with SIGKILL, SIGTERM or
SIGINT, and checks what a user would see: what the command said; that nothing of
the lab is left (after `cnm clean NAME` where the lab process was SIGKILLed): no
file under the run root, no process with the lab's mark, no network namespace it
used, the machine's own links, addresses, routes, nft rules and mounts unchanged;
and that a lab of the same name comes up again.

All 15 steps × 3 signals × 2 targets would take about five minutes, so TRIALS is a
representative subset of 32 (about two minutes): every step at least
twice, with the CLI and with the lab process killed where both apply; on
bring-up every (target, signal) pair on three or more steps; swarm join (a step
in an Engine API thread of a running lab, so only the lab process is a target)
with all three signals; teardown with the lab process killed (SIGTERM, SIGINT,
SIGKILL) and with `cnm lab down` killed (SIGKILL, SIGINT). Six more trials
(about 40 s) put a real dockerd on h1 (`engine: docker`) and kill around it: while
it has just started, once its containers run, and while the lab is removed.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import CNM, lab_name, run_cnm
from leftovers import (
    LabNamespaces,
    assert_nothing_left,
    backstop,
    lab_net_namespaces,
    machine_state,
    wait_gone,
)

from emulator import faults
from emulator.lab.state import RunDir

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT_S = 60.0
GONE_TIMEOUT_S = 60.0

WEB = """\
name: faults
hosts:
  h1:
    networks:
      front:
        subnet: 10.30.0.0/24
    containers:
      web: {network: front}
  h2: {}
"""

LAN = """\
name: lanfault
hosts:
  h1: {}
lan:
  hosts:
    vm1: {}
"""

REAL = WEB.replace("name: faults\nhosts:\n  h1:\n",
                   "name: realflt\nhosts:\n  h1:\n    engine: docker\n")
assert "engine: docker" in REAL

KILL, TERM, INT = signal.SIGKILL, signal.SIGTERM, signal.SIGINT


@dataclass(frozen=True)
class Trial:
    step: str
    target: str  # "cli": the `cnm lab up` or `cnm lab down` command; "lab": the lab process
    sig: signal.Signals
    phase: str = "up"  # "up": while `cnm lab up` waits; "api": a request to a running
    #                    lab; "down": while `cnm lab down` waits
    topology: str = WEB

    def __str__(self) -> str:
        real = "-realdocker" if "engine: docker" in self.topology else ""
        return f"{self.step}-{self.target}-{self.sig.name}{real}"


TRIALS = [
    Trial("lab.world-made", "lab", KILL),
    Trial("lab.world-made", "cli", INT),
    Trial("lab.hosts-made", "cli", INT),
    Trial("lab.hosts-made", "lab", KILL),
    Trial("lab.lan-up", "cli", KILL, topology=LAN),
    Trial("lab.lan-up", "lab", TERM, topology=LAN),
    Trial("lab.engine-made:h2", "lab", TERM),
    Trial("lab.engine-made:h2", "cli", INT),
    Trial("lab.api-up:h1", "cli", KILL),
    Trial("lab.api-up:h1", "lab", INT),
    Trial("network.pool-allocated", "lab", INT),
    Trial("network.pool-allocated", "cli", KILL),
    Trial("network.driver-created", "cli", TERM),
    Trial("network.driver-created", "lab", KILL),
    Trial("container.sandbox-made", "lab", KILL),
    Trial("container.sandbox-made", "cli", TERM),
    Trial("container.joined", "cli", INT),
    Trial("container.joined", "cli", KILL),
    Trial("container.process-started", "lab", TERM),
    Trial("container.process-started", "cli", KILL),
    Trial("lab.ready", "lab", INT),
    Trial("lab.ready", "cli", TERM),
    Trial("lab.ready", "cli", KILL),
    Trial("swarm.joined", "lab", KILL, phase="api"),
    Trial("swarm.joined", "lab", TERM, phase="api"),
    Trial("swarm.joined", "lab", INT, phase="api"),
    Trial("teardown.api-stopped", "lab", TERM, phase="down"),
    Trial("teardown.api-stopped", "cli", KILL, phase="down"),
    Trial("teardown.engines-closed", "lab", KILL, phase="down"),
    Trial("teardown.engines-closed", "cli", KILL, phase="down"),
    Trial("teardown.world-stopped", "cli", INT, phase="down"),
    Trial("teardown.world-stopped", "lab", INT, phase="down"),
    # h1 runs a real dockerd: its containerd, shims, containers (in the lab's cgroups),
    # mounts (in its own mount namespace) and data root must go too
    Trial("lab.dockerd-up:h1", "lab", KILL, topology=REAL),
    Trial("lab.dockerd-up:h1", "lab", TERM, topology=REAL),
    Trial("lab.dockerd-up:h1", "cli", INT, topology=REAL),
    Trial("lab.ready", "lab", KILL, topology=REAL),
    Trial("teardown.api-stopped", "lab", KILL, phase="down", topology=REAL),
    Trial("teardown.engines-closed", "lab", INT, phase="down", topology=REAL),
]


# -- helpers -------------------------------------------------------------------


class Report:
    """The FIFO the lab process's fault step reports on (open both ways: never EOF)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)

    def wait(self, step: str, watched: subprocess.Popen) -> int:
        """The pid of the process that reached `step`; fails if `watched` ends first."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            assert left > 0, f"step {step} was not reached within {STEP_TIMEOUT_S:.0f}s"
            if select.select([self.fd], [], [], min(left, 0.5))[0]:
                line += os.read(self.fd, 4096)
            elif watched.poll() is not None:
                _, err = watched.communicate()
                raise AssertionError(f"{watched.args} ended ({watched.returncode}) before "
                                     f"step {step}: {err}")
        reached, pid = line.decode().split()
        assert reached == step
        return int(pid)

    def close(self) -> None:
        os.close(self.fd)


def fault_env(step: str, report: Report) -> dict[str, str]:
    return {**os.environ, faults.STEP_ENV: step, faults.REPORT_ENV: str(report.path)}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in (faults.STEP_ENV, faults.REPORT_ENV)}


def cnm(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """`cnm ARGS` as from a terminal: SIGINT is not ignored (a shell's `&` ignores it)."""
    return subprocess.Popen([*CNM, *args], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc: subprocess.Popen) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=GONE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} did not end: {out} {err}") from None


def up_answer(trial: Trial, name: str) -> tuple[int, str]:
    """What `cnm lab up` exits with and says on stderr after the trial's kill."""
    sig = trial.sig
    if trial.target == "cli":
        if sig == KILL:
            return -KILL, ""
        return 128 + sig, (f"cnm: interrupted by {sig.name} before lab {name} was ready; "
                           "nothing of it is left\n")
    if sig == KILL:
        return 1, (f"cnm: the lab process died while starting; `cnm lab logs {name}` shows "
                   f"its log, `cnm clean {name}` removes what it left\n")
    return 1, (f"cnm: lab {name} was stopped by {sig.name} before it was ready; nothing of "
               "it is left\n")


def kill_during_up(trial: Trial, name: str, topology: Path, report: Report
                   ) -> LabNamespaces:
    cli = cnm("lab", "up", str(topology), "--name", name, env=fault_env(trial.step, report))
    try:
        lab = report.wait(trial.step, cli)
        namespaces = lab_net_namespaces(name, RunDir(name).read(), lab)
        os.kill(cli.pid if trial.target == "cli" else lab, trial.sig)
        out, err = finish(cli)
        assert wait_gone(lab, GONE_TIMEOUT_S), "the lab process outlived the trial"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert out == "", "`lab up` said the lab was up"
    assert (cli.returncode, err) == up_answer(trial, name)
    return namespaces


class Docker:
    """The docker CLI against one Docker host of lab `name`."""

    def __init__(self, name: str, config: Path) -> None:
        self.name = name
        self.env = {k: v for k, v in clean_env().items() if not k.startswith("DOCKER_")}
        self.env.update(DOCKER_CONFIG=str(config), DOCKER_CLI_HINTS="false")

    def popen(self, host: str, *args: str) -> subprocess.Popen:
        env = {**self.env, "DOCKER_HOST": f"unix://{RunDir(self.name).socket(host)}"}
        return subprocess.Popen(["docker", *args], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ok(self, host: str, *args: str) -> str:
        proc = self.popen(host, *args)
        out, err = finish(proc)
        assert proc.returncode == 0, err
        return out


def kill_during_api(trial: Trial, name: str, report: Report, config: Path) -> LabNamespaces:
    up = subprocess.run([*CNM, "lab", "up", "--name", name], cwd=REPO, capture_output=True,
                        text=True, timeout=GONE_TIMEOUT_S, env=fault_env(trial.step, report))
    assert up.returncode == 0, up.stderr
    docker = Docker(name, config)
    docker.ok("h1", "swarm", "init")
    token = docker.ok("h1", "swarm", "join-token", "-q", "worker").strip()
    join = docker.popen("h2", "swarm", "join", "--token", token, "192.0.2.11:2377")
    try:
        lab = report.wait(trial.step, join)
        state = RunDir(name).read()
        assert state is not None and state.owner.pid == lab
        namespaces = lab_net_namespaces(name, state, lab)
        os.kill(lab, trial.sig)
        assert wait_gone(lab, GONE_TIMEOUT_S), "the lab process outlived the trial"
        finish(join)  # answered, or cut off with the lab: either way it ends
    finally:
        if join.poll() is None:
            join.kill()
            join.communicate()
    return namespaces


def kill_during_down(trial: Trial, name: str, topology: Path, report: Report
                     ) -> LabNamespaces:
    up = subprocess.run([*CNM, "lab", "up", str(topology), "--name", name], cwd=REPO,
                        capture_output=True, text=True, timeout=GONE_TIMEOUT_S,
                        env=fault_env(trial.step, report))
    assert up.returncode == 0, up.stderr
    state = RunDir(name).read()
    assert state is not None
    lab = state.owner.pid
    namespaces = lab_net_namespaces(name, state, lab)
    down = cnm("lab", "down", name, env=clean_env())
    try:
        assert report.wait(trial.step, down) == lab
        os.kill(down.pid if trial.target == "cli" else lab, trial.sig)
        out, err = finish(down)
    finally:
        if down.poll() is None:
            down.kill()
            down.communicate()
    if trial.target == "lab":
        assert (down.returncode, out, err) == (0, f"lab {name} removed\n", "")
    else:
        assert down.returncode == (-KILL if trial.sig == KILL else 128 + trial.sig), err
        # The lab was told to stop once and waits at the step; a second `lab down` sends
        # another SIGTERM, which lets the step go on.
        assert RunDir(name).read() is not None and state.owner.alive()
        again = run_cnm("lab", "down", name, timeout=GONE_TIMEOUT_S)
        assert (again.returncode, again.stdout) == (0, f"lab {name} removed\n"), again.stderr
    assert wait_gone(lab, GONE_TIMEOUT_S), "the lab process outlived the trial"
    return namespaces


# -- the trials -----------------------------------------------------------------


@pytest.mark.parametrize("trial", TRIALS, ids=str)
def test_a_kill_at_a_named_step_leaves_nothing(trial: Trial, tmp_path: Path) -> None:
    name = lab_name()
    topology = tmp_path / "topology.yaml"
    topology.write_text(trial.topology)
    report = Report(tmp_path / "report")
    before = machine_state()
    try:
        if trial.phase == "up":
            namespaces = kill_during_up(trial, name, topology, report)
        elif trial.phase == "api":
            namespaces = kill_during_api(trial, name, report, tmp_path)
        else:
            namespaces = kill_during_down(trial, name, topology, report)

        cleaned = run_cnm("clean", name)
        assert cleaned.returncode == 0, cleaned.stderr
        if trial.target == "lab" and trial.sig == KILL and trial.phase != "down":
            assert cleaned.stdout.startswith(f"removed 1 dead lab(s): {name} ("), cleaned.stdout
        else:  # the lab removed itself (`lab down` cleans after a lab it had to kill)
            assert cleaned.stdout == "nothing to clean\n"
        assert_nothing_left(name, namespaces)
        assert machine_state() == before

        up = run_cnm("lab", "up", "--name", name, timeout=GONE_TIMEOUT_S)
        assert up.returncode == 0, up.stderr
        down = run_cnm("lab", "down", name, timeout=GONE_TIMEOUT_S)
        assert down.returncode == 0, down.stderr
        assert_nothing_left(name)
    finally:
        report.close()
        backstop(name)
