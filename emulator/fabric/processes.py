"""Processes the lab starts, identified so that only those are ever ended.

A process is named by its pid *and* its start time (field 22 of /proc/PID/stat),
so a recycled pid is never mistaken for ours. Every process a lab starts also
carries CNM_LAB in its environment, which lets `cnm clean` find the ones a
killed lab could not record.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

LAB_ENV = "CNM_LAB"


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (field 3, so field N is at N - 3);
    None if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Clock ticks after boot at which `pid` started; None if it is gone."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields is not None else None


@dataclass(frozen=True)
class ProcessId:
    pid: int
    started: int

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        started = start_time(pid)
        if started is None:
            raise ProcessLookupError(pid)
        return cls(pid, started)

    def alive(self) -> bool:
        if start_time(self.pid) != self.started:
            return False
        state = _state(self.pid)
        return state not in (None, "Z", "X")

    def to_json(self) -> list[int]:
        return [self.pid, self.started]

    @classmethod
    def from_json(cls, raw: list[int]) -> ProcessId:
        return cls(int(raw[0]), int(raw[1]))


def _state(pid: int) -> str | None:
    fields = stat_fields(pid)
    return fields[0] if fields is not None else None


def spawn(argv: list[str], env: dict[str, str], log: Path | None = None,
          errors: Path | None = None) -> ProcessId:
    """Start argv in the calling thread's namespaces, detached from our stdio.

    Its output goes to `log` (appended) when given, else nowhere; its standard
    error to `errors` when given, else with the output.
    """
    devnull = os.open(os.devnull, os.O_RDWR)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log else devnull
    err = os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if errors else out
    try:
        pid = os.posix_spawn(
            _resolve(argv[0], env.get("PATH", os.defpath)),
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, err, 2),
            ],
            setsid=True,
        )
    finally:
        for fd in {devnull, out, err}:
            os.close(fd)
    return ProcessId.of(pid)


class NotOurChild(Exception):
    pass


@functools.lru_cache(maxsize=256)
def _resolve(program: str, path: str) -> str:
    """The executable `program` names on `path` (the lab shares the machine's files),
    looked up once instead of at every spawn; FileNotFoundError if there is none."""
    found = program if "/" in program else shutil.which(program, path=path)
    if found is None:
        raise FileNotFoundError(2, f"No such file or directory: {program!r}")
    return found


def exit_status(pid: int) -> int | None:
    """The exit code of a child of ours that has ended (reaping it), else None.

    Raises NotOurChild when `pid` is not (or no longer) a child of this process.
    """
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        raise NotOurChild(pid) from None
    if done != pid:
        return None
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by signal N: 128+N, as a shell says


def reap(pid: int) -> None:
    """Collect the exit status of a child of ours, if it is one and has exited."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def terminate(proc: ProcessId, grace: float = 2.0) -> None:
    """End a process we started: SIGTERM, then SIGKILL once `grace` runs out."""
    if not proc.alive():
        reap(proc.pid)
        return
    _signal(proc, signal.SIGTERM)
    if not _wait_gone(proc, grace):
        _signal(proc, signal.SIGKILL)
        _wait_gone(proc, grace)


def kill(proc: ProcessId) -> None:
    """End a process we started at once (SIGKILL) and wait until it is gone."""
    if proc.alive():
        _signal(proc, signal.SIGKILL)
    _wait_gone(proc, 5.0)


def _signal(proc: ProcessId, sig: int) -> None:
    if start_time(proc.pid) == proc.started:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def _wait_gone(proc: ProcessId, timeout: float) -> bool:
    """Wait for the process to exit, reaping it if it is our child."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(proc.pid, os.WNOHANG)
            if done == proc.pid:
                return True
        except ChildProcessError:
            pass
        if not proc.alive():
            return True
        if time.monotonic() >= deadline:
            return False
        _pause_for_exit(proc.pid)


def _pause_for_exit(pid: int) -> None:
    """Block until `pid` exits (pidfd poll) or a short slice passes for non-children."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return
    try:
        import select

        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(50)
    finally:
        os.close(fd)

