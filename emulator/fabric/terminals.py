"""Pseudo-terminals for containers' processes: made in a devpts, with a window size,
as the controlling terminal of the process started on them."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
import termios
from dataclasses import dataclass

from emulator.fabric import syscalls as sc
from emulator.fabric.identity import Identity, executable, take_identity

TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430


@dataclass
class Pty:
    """The master side of a pseudo-terminal made in a container's devpts."""

    master: int
    slave_path: str


class PtyProcess:
    """A process on a pseudo-terminal (Popen's wait/poll/pid; no pipes)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.stdin = self.stdout = self.stderr = None

    def poll(self) -> int | None:
        if self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def open_pty(ptmx: str = "/dev/ptmx") -> Pty:
    """A new pseudo-terminal of the devpts behind `ptmx`, unlocked: the master, and the
    slave's path (in the same filesystem view)."""
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("i", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    except BaseException:
        os.close(master)
        raise
    return Pty(master, f"{os.path.dirname(ptmx)}/pts/{number}".replace("//", "/"))


def read_now(fd: int) -> bytes | None:
    """What a non-blocking pipe or terminal master holds now (b"" if nothing yet); None
    at its end: EOF, or EIO, a terminal whose every process has ended."""
    try:
        return os.read(fd, 65536) or None
    except BlockingIOError:
        return b""
    except OSError as exc:
        if exc.errno == errno.EIO:
            return None
        raise


def set_window(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def spawn_on_pty_here(argv: list[str], env: dict[str, str], size: tuple[int, int] | None,
                      identity: Identity | None = None) -> tuple[PtyProcess, int]:
    """Start argv on a new pseudo-terminal of the calling thread's /dev/ptmx, as its
    controlling terminal (glibc's posix_spawn makes the session before it opens the
    terminal), with `identity` taken first (only in a thread of its own)."""
    program = executable(argv[0], env)
    pty = open_pty("/dev/ptmx")
    try:
        if size is not None:
            set_window(pty.master, *size)
        if identity is not None:
            take_identity(identity)
        sc.close_on_exec_from(3)
        pid = os.posix_spawn(program, argv, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, pty.slave_path, os.O_RDWR, 0),
            (os.POSIX_SPAWN_DUP2, 0, 1),
            (os.POSIX_SPAWN_DUP2, 0, 2),
        ], setsid=True)
    except BaseException:
        os.close(pty.master)
        raise
    return PtyProcess(pid), pty.master
