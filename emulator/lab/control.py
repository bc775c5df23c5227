"""What the CLI does with labs it does not own: start one in the background (and
let it go if interrupted before it is ready), list them, stop one, read one's log,
and run a command inside one of their namespaces."""

from __future__ import annotations

import difflib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests

from emulator.fabric.mountns import enter_mounts_of, has_own_mounts, private_with_binds
from emulator.fabric.netns import CLONE_NEWNET, CLONE_NEWUTS, setns
from emulator.fabric.processes import LAB_ENV, ProcessId, terminate
from emulator.lab.cleanup import clean
from emulator.lab.lab import LabError
from emulator.lab.realdocker import API_VERSION
from emulator.lab.state import LabState, RunDir, all_run_dirs


@dataclass(frozen=True)
class LabSummary:
    name: str
    status: str
    owner: int
    hosts: list[str]
    containers: int


STOP_GRACE_S = 60.0
"""How long a lab has to remove itself before it is killed (`lab down`) or given up
on (an interrupted `lab up`)."""


class Interrupted(LabError):
    """`cnm lab up` was interrupted (Ctrl-C, SIGTERM) before its lab was ready."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


class _Signalled(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_signalled(signum: int, frame: object) -> None:
    raise _Signalled(signum)


def start_background(topology: str | None, name: str, engine: str | None = None) -> str:
    """Start a lab process and return once its lab is ready; raise LabError with its
    error. Interrupted (SIGINT, SIGTERM) before that, it lets the lab go, waits until
    the lab has removed itself, and raises Interrupted."""
    read_fd, write_fd = os.pipe()
    args = [sys.executable, "-m", "emulator.lab.daemon", "--ready-fd", str(write_fd),
            "--name", name]
    if topology:
        args += ["--topology", str(Path(topology).resolve())]
    if engine:
        args += ["--engine", engine]
    try:
        process = subprocess.Popen(args, pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True, close_fds=True)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    answer = _Answer(read_fd)
    try:
        answer.read()
    except _Signalled as sig:
        answer.read_available()
        answer.close()  # the lab process sees its starter go and removes the lab
        if answer.text.startswith("ready "):
            stop(name)  # it was ready a moment before: it goes too
        raise Interrupted(_interrupted(name, sig.signum, process), sig.signum) from None
    finally:
        answer.close()
    if answer.text.startswith("ready "):
        return answer.text.split()[1]
    _wait_exit(process)
    if answer.text:
        raise LabError(answer.text.removeprefix("error: "))
    hint = ""
    if RunDir(name).exists():
        hint = (f"; `cnm lab logs {name}` shows its log, `cnm clean {name}` removes what it "
                "left")
    raise LabError(f"the lab process died while starting{hint}")


class _Answer:
    """What the lab process says on the pipe until it closes it: `ready NAME` or
    `error: MESSAGE`. SIGINT and SIGTERM while it is read raise _Signalled, and what
    was read by then is kept."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._data = b""

    @property
    def text(self) -> str:
        return self._data.decode(errors="replace").strip()

    def read(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            self._read_to_end()
            return
        previous = {sig: signal.signal(sig, _raise_signalled)
                    for sig in (signal.SIGINT, signal.SIGTERM)
                    if signal.getsignal(sig) is not signal.SIG_IGN}
        try:
            self._read_to_end()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _read_to_end(self) -> None:
        while chunk := os.read(self._fd, 4096):
            self._data += chunk

    def read_available(self) -> None:
        if self._fd < 0:
            return
        os.set_blocking(self._fd, False)
        try:
            self._read_to_end()
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _interrupted(name: str, signum: int, process: subprocess.Popen) -> str:
    what = f"interrupted by {signal.Signals(signum).name} before lab {name} was ready"
    if _wait_exit(process):
        return f"{what}; nothing of it is left"
    return f"{what}; it is still being removed by process {process.pid}"


def _wait_exit(process: subprocess.Popen, timeout: float = STOP_GRACE_S) -> bool:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


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
        containers = len(state.containers)
        if status == "running":
            try:
                containers = len(containers_of(state))
            except LabError:
                pass
        hosts = [h if state.engine_of(h) == "emulated" else f"{h}:{state.engine_of(h)}"
                 for h in state.hosts]
        result.append(LabSummary(state.name, status, state.owner.pid, hosts, containers))
    return result


class SeveralLabs(LabError):
    """A command that names no lab while several run; `running` lets the CLI show the
    exact command to type for each."""

    def __init__(self, running: list[str]) -> None:
        super().__init__(f"several labs are running ({', '.join(running)}); name one with "
                         "--lab NAME")
        self.running = running


def _only_running_lab() -> str:
    running = [s.name for s in summaries() if s.status == "running"]
    if len(running) == 1:
        return running[0]
    if not running:
        raise LabError("no lab is running; start one with `cnm lab up`")
    raise SeveralLabs(running)


def read_state(name: str | None) -> LabState:
    lab = name or _only_running_lab()
    state = RunDir(lab).read()
    if state is None:
        names = [s.name for s in summaries()]
        raise LabError(f"no lab named {lab}{did_you_mean(lab, names)}; running labs: "
                       + (", ".join(names) or "none"))
    return state


def stop(name: str | None) -> str:
    state = read_state(name)
    if state.owner.alive():
        terminate(state.owner, grace=STOP_GRACE_S)
    if state.owner.alive():
        raise LabError(f"lab {state.name} did not stop (process {state.owner.pid})")
    clean(only=state.name)
    return state.name


def log_of(name: str | None) -> bytes:
    """The log of a lab started by `cnm lab up` (running, or dead and not cleaned yet)."""
    state = read_state(name)
    try:
        return RunDir(state.name).log_file.read_bytes()
    except FileNotFoundError:
        raise LabError(f"lab {state.name} has no log file: it runs inside process "
                       f"{state.owner.pid} (started from Python, not by `cnm lab up`)"
                       ) from None


def real_containers(state: LabState, host: str) -> dict[str, ProcessId]:
    """HOST/NAME -> process of each running container of a host run by a real dockerd,
    from its Engine API (inspect State.Pid)."""
    client = docker.DockerClient(base_url=f"unix://{RunDir(state.name).socket(host)}",
                                 version=API_VERSION, timeout=30)
    found: dict[str, ProcessId] = {}
    try:
        for summary in client.api.containers():
            pid = client.api.inspect_container(summary["Id"])["State"]["Pid"]
            if pid:
                try:
                    found[f"{host}/{summary['Names'][0].lstrip('/')}"] = ProcessId.of(pid)
                except ProcessLookupError:
                    pass
    except (requests.RequestException, docker.errors.APIError) as exc:
        raise LabError(f"cannot reach the Docker Engine of {host}: {exc}") from None
    finally:
        client.close()
    return dict(sorted(found.items()))


def containers_of(state: LabState) -> dict[str, ProcessId]:
    """Every running container of the lab, emulated hosts' and real hosts' alike."""
    found = dict(state.containers)
    for host in state.hosts:
        if state.engine_of(host) == "docker" and state.ready:
            found.update(real_containers(state, host))
    return dict(sorted(found.items()))


def resolve_target(state: LabState, target: str) -> tuple[ProcessId, bool]:
    """The process whose namespaces `target` (HOST, HOST/CONTAINER, outside, or a LAN
    node: router or a LAN host) names."""
    if "/" in target:
        host = target.split("/", 1)[0]
        running = (real_containers(state, host) if state.engine_of(host) == "docker"
                   and host in state.hosts else state.containers)
        proc = running.get(target)
        if proc is None:
            on_host = [k for k in running if k.startswith(host + "/")]
            raise LabError(f"no running container {target} in lab {state.name}"
                           f"{did_you_mean(target, on_host)}; containers on {host}: "
                           + (", ".join(on_host) or "none"))
        return proc, True
    if target == "outside" and state.outside is not None:
        return state.outside, False
    proc = state.hosts.get(target) or state.lan_nodes.get(target)
    if proc is None:
        nodes = [*state.hosts, "outside", *state.lan_nodes]
        raise LabError(f"no host {target} in lab {state.name}{did_you_mean(target, nodes)}; "
                       "hosts: " + ", ".join(nodes))
    return proc, False


def did_you_mean(word: str, choices: list[str]) -> str:
    """` (did you mean 'x'?)` for the choice closest to a misspelt word, or ""."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _lab_names_and_resolver(state: LabState) -> None:
    """A lab node (a Docker host, outside, a LAN node) knows the lab's node names and
    asks the lab's DNS server, not the machine's: its own /etc/hosts and resolv.conf,
    in a mount namespace of the command's own."""
    etc = RunDir(state.name).node_etc
    binds = {f"/etc/{name}": str(etc / name) for name in ("hosts", "resolv.conf")
             if (etc / name).is_file()}
    if binds:
        private_with_binds(binds)


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
        host = target.split("/", 1)[0]
        if state.engine_of(host) == "emulated" and has_own_mounts(proc.pid):
            # its /etc/{resolv.conf,hosts,hostname}; the rest is the host's filesystem
            # (a real dockerd's container has its image's instead: not entered)
            cwd = os.getcwd()
            enter_mounts_of(proc.pid)
            try:
                os.chdir(cwd)
            except OSError:
                pass
    else:
        _lab_names_and_resolver(state)
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        raise LabError(f'exec: "{argv[0]}": executable file not found in $PATH') from None
