"""What the CLI does with labs it does not own: start one in the background,
list them, stop one, and run a command inside one of their namespaces."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from emulator.fabric.netns import CLONE_NEWNET, CLONE_NEWUTS, setns
from emulator.fabric.processes import LAB_ENV, ProcessId, terminate
from emulator.lab.cleanup import clean
from emulator.lab.lab import LabError
from emulator.lab.state import LabState, RunDir, all_run_dirs


@dataclass(frozen=True)
class LabSummary:
    name: str
    status: str
    owner: int
    hosts: list[str]
    containers: int


def start_background(topology: str | None, name: str) -> str:
    """Start a lab daemon and return once it is ready; raise LabError with its error."""
    read_fd, write_fd = os.pipe()
    args = [sys.executable, "-m", "emulator.lab.daemon", "--ready-fd", str(write_fd),
            "--name", name]
    if topology:
        args += ["--topology", str(Path(topology).resolve())]
    log = RunDir(name).path.parent / f".{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(log, "wb") as out:
        subprocess.Popen(args, pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=out,
                         stderr=out, start_new_session=True, close_fds=True)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as ready:
            answer = ready.read().strip()
    finally:
        log.unlink(missing_ok=True)
    if answer.startswith("ready"):
        return answer.split()[1]
    raise LabError(answer.removeprefix("error: ") or "the lab process died while starting")


def summaries() -> list[LabSummary]:
    result = []
    for run_dir in all_run_dirs():
        state = run_dir.read()
        if state is None:
            result.append(LabSummary(run_dir.name, "unknown (no state)", 0, [], 0))
            continue
        if not state.owner.alive():
            status = "dead (run `cnm clean`)"
        else:
            status = "running" if state.ready else "starting"
        result.append(LabSummary(state.name, status, state.owner.pid, list(state.hosts),
                                 len(state.containers)))
    return result


def _only_running_lab() -> str:
    running = [s.name for s in summaries() if s.status == "running"]
    if len(running) == 1:
        return running[0]
    if not running:
        raise LabError("no lab is running; start one with `cnm lab up`")
    raise LabError(f"several labs are running ({', '.join(running)}); name one")


def read_state(name: str | None) -> LabState:
    lab = name or _only_running_lab()
    state = RunDir(lab).read()
    if state is None:
        raise LabError(f"no lab named {lab}; running labs: "
                       + (", ".join(s.name for s in summaries()) or "none"))
    return state


def stop(name: str | None) -> str:
    state = read_state(name)
    if state.owner.alive():
        terminate(state.owner, grace=60.0)
    if state.owner.alive():
        raise LabError(f"lab {state.name} did not stop (process {state.owner.pid})")
    clean(only=state.name)
    return state.name


def resolve_target(state: LabState, target: str) -> tuple[ProcessId, bool]:
    """The process whose namespaces `target` (HOST, HOST/CONTAINER, outside, or a LAN
    node: router or a LAN host) names."""
    if "/" in target:
        proc = state.containers.get(target)
        if proc is None:
            host = target.split("/", 1)[0]
            known = ", ".join(k for k in state.containers if k.startswith(host + "/")) or "none"
            raise LabError(f"no running container {target} in lab {state.name}; "
                           f"containers on {host}: {known}")
        return proc, True
    if target == "outside" and state.outside is not None:
        return state.outside, False
    proc = state.hosts.get(target) or state.lan_nodes.get(target)
    if proc is None:
        raise LabError(f"no host {target} in lab {state.name}; hosts: "
                       + ", ".join([*state.hosts, "outside", *state.lan_nodes]))
    return proc, False


def exec_in(state: LabState, target: str, argv: list[str]) -> None:
    """Replace this process with argv inside the target's namespaces."""
    proc, is_container = resolve_target(state, target)
    if not proc.alive():
        raise LabError(f"{target} is not running")
    if target in state.hosts:
        os.environ["CNM_HOST"] = target
        os.environ["CNM_PLUGIN_DIR"] = str(RunDir(state.name).path / "plugins" / target)
        os.environ[LAB_ENV] = state.marker
    net = os.open(f"/proc/{proc.pid}/ns/net", os.O_RDONLY)
    setns(net, CLONE_NEWNET)
    if is_container:
        uts = os.open(f"/proc/{proc.pid}/ns/uts", os.O_RDONLY)
        setns(uts, CLONE_NEWUTS)
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        raise LabError(f'exec: "{argv[0]}": executable file not found in $PATH') from None
