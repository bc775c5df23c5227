"""Network (and UTS) namespaces as handles a thread can step into and out of.

Python 3.11 has neither os.setns nor os.unshare, so they come from libc. A
namespace switch applies to the calling thread only: the fabric steps a thread
into a namespace, opens sockets or spawns processes there (both keep the
namespace they were made in), and steps back.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
CLONE_NEWUTS = 0x04000000

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def _inode(path: str) -> int:
    return os.stat(path).st_ino


def current_net_inode() -> int:
    return _inode("/proc/thread-self/ns/net")


_STARTED_IN = _inode("/proc/self/ns/net")


def machine_net_inode() -> int:
    """The inode of the machine's own network namespace: PID 1's where we may look,
    else the one this process started in (cnm is always started from the machine's)."""
    try:
        return _inode("/proc/1/ns/net")
    except PermissionError:
        return _STARTED_IN


@dataclass
class Namespace:
    """An open handle on one network namespace, plus optionally its UTS namespace."""

    net_fd: int
    uts_fd: int | None = None

    @property
    def inode(self) -> int:
        return os.fstat(self.net_fd).st_ino

    @classmethod
    def of_current_thread(cls, with_uts: bool = False) -> Namespace:
        net = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        uts = os.open("/proc/thread-self/ns/uts", os.O_RDONLY | os.O_CLOEXEC) if with_uts else None
        return cls(net, uts)

    @classmethod
    def of_pid(cls, pid: int, with_uts: bool = False) -> Namespace:
        net = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        uts = os.open(f"/proc/{pid}/ns/uts", os.O_RDONLY | os.O_CLOEXEC) if with_uts else None
        return cls(net, uts)

    @contextmanager
    def entered(self) -> Iterator[None]:
        """Run the body with the calling thread inside this namespace."""
        back = Namespace.of_current_thread(with_uts=self.uts_fd is not None)
        setns(self.net_fd, CLONE_NEWNET)
        if self.uts_fd is not None:
            setns(self.uts_fd, CLONE_NEWUTS)
        try:
            yield
        finally:
            setns(back.net_fd, CLONE_NEWNET)
            if back.uts_fd is not None:
                setns(back.uts_fd, CLONE_NEWUTS)
            back.close()

    def close(self) -> None:
        for fd in (self.net_fd, self.uts_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.net_fd = -1
        self.uts_fd = None


@contextmanager
def new_namespace(with_uts: bool = False) -> Iterator[Namespace]:
    """Create a fresh network (and UTS) namespace; the body runs inside it.

    The yielded handle keeps the namespace alive after the body; close it (or let
    a process live in it) as the owner decides.
    """
    back = Namespace.of_current_thread(with_uts=with_uts)
    try:
        unshare(CLONE_NEWNET | (CLONE_NEWUTS if with_uts else 0))
        created = Namespace.of_current_thread(with_uts=with_uts)
        try:
            yield created
        finally:
            setns(back.net_fd, CLONE_NEWNET)
            if back.uts_fd is not None:
                setns(back.uts_fd, CLONE_NEWUTS)
    finally:
        back.close()
