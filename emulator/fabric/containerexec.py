"""`docker exec`: a process in a running container's sandbox.

The short-lived setup thread (fabric/identity) enters the namespaces of the
container's PID 1 (network, UTS, PID for its children, mount) and PID 1's own root,
goes to the working directory, takes the exec's identity and starts the process,
with pipes or on a terminal of the container's own devpts.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from emulator.fabric import syscalls as sc
from emulator.fabric.identity import (
    Identity,
    SandboxSetupError,
    executable,
    in_fresh_thread,
    take_identity,
)
from emulator.fabric.netns import setns, unshare
from emulator.fabric.terminals import PtyProcess, spawn_on_pty_here


@dataclass
class ExecTarget:
    """Descriptors of a running container's namespaces (its PID 1's), to exec in."""

    fds: dict[str, int]

    @classmethod
    def of(cls, pid: int, own_net: bool = True) -> ExecTarget:
        kinds = ("mnt", "pid", "net", "uts") if own_net else ("mnt", "pid")
        fds: dict[str, int] = {}
        try:
            for kind in kinds:
                fds[kind] = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
            fds["root"] = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY |
                                  os.O_CLOEXEC)
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            raise
        return cls(fds)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


FLAGS = {"mnt": sc.CLONE_NEWNS, "pid": sc.CLONE_NEWPID, "net": sc.CLONE_NEWNET,
         "uts": sc.CLONE_NEWUTS}


def _enter_container(target: ExecTarget, net: int | None, identity: Identity) -> None:
    """The calling thread joins the container (its host-mode network from `net`), goes to
    the working directory; the identity is taken by the caller."""
    unshare(sc.CLONE_FS)
    if net is not None:
        setns(net, sc.CLONE_NEWNET)
    for kind in ("net", "uts", "pid", "mnt"):
        if kind in target.fds:
            setns(target.fds[kind], FLAGS[kind])
    # PID 1's own root: entering the namespace gives its top mount, which is the
    # machine's for the moment a start still has it stacked there
    os.fchdir(target.fds["root"])
    os.chroot(".")
    workdir = identity.workdir or "/"
    try:
        os.chdir(workdir)
    except OSError as exc:
        raise SandboxSetupError(
            "OCI runtime exec failed: exec failed: unable to start container process: "
            f'chdir to cwd ("{workdir}") set in config.json failed: '
            f"{exc.strerror.lower()}: unknown") from None


def popen_in(target: ExecTarget, net: int | None, identity: Identity, argv: list[str],
             env: dict[str, str]) -> subprocess.Popen:
    """Start argv in the container with pipes (see subprocess.Popen)."""

    def start() -> subprocess.Popen:
        _enter_container(target, net, identity)
        executable(argv[0], env)
        take_identity(identity)
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)

    return in_fresh_thread(start)


def spawn_on_pty(target: ExecTarget | None, net: int | None, identity: Identity,
                 argv: list[str], env: dict[str, str],
                 size: tuple[int, int] | None = None) -> tuple[PtyProcess, int]:
    """Start argv in the container (the machine's view, in network namespace `net`, for
    no target) on a new pseudo-terminal of the container's own devpts, as its
    controlling terminal: the process and the master side."""

    def start() -> tuple[PtyProcess, int]:
        if target is not None:
            _enter_container(target, net, identity)
        elif net is not None:
            unshare(sc.CLONE_FS)
            setns(net, sc.CLONE_NEWNET)
        return spawn_on_pty_here(argv, env, size, identity)

    return in_fresh_thread(start)
