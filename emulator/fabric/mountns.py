"""Mount namespaces for containers: their own /etc/resolv.conf, /etc/hosts, /etc/hostname.

A container's process starts in a mount namespace of its own, a private copy of
the machine's (so nothing mounted there propagates back), in which the three
files are bind-mounted from the engine's per-container files, as runc mounts
dockerd's. The rest of the filesystem is the machine's, so the container runs
the host's binaries as before. The namespace lives as long as the container's
processes do: nothing is mounted anywhere else, and nothing is left when they end.

Python 3.11 has neither os.unshare nor os.setns nor mount(2): they come from
libc. A mount namespace belongs to a thread's filesystem context, which threads
share (setns refuses a shared one), so every switch happens in a short-lived
thread of its own (`in_own_thread`), which first takes a private filesystem
context (CLONE_FS); what it starts keeps the namespace, the rest of the process
never sees it.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from emulator.fabric.netns import setns, unshare

CLONE_NEWNS = 0x00020000
CLONE_FS = 0x00000200
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]

T = TypeVar("T")


def _mount(source: str | None, target: str, flags: int) -> None:
    result = _libc.mount(source.encode() if source else None, target.encode(), None, flags,
                         None)
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source or ''} on {target}: {os.strerror(errno)}")


def private_with_binds(binds: Mapping[str, str]) -> None:
    """Move the calling thread into a new mount namespace, private from the machine's,
    with each target path (a file that exists) bind-mounted from its source."""
    unshare(CLONE_NEWNS)  # implies CLONE_FS: this thread's filesystem context only
    _mount(None, "/", MS_REC | MS_PRIVATE)
    for target, source in binds.items():
        _mount(source, target, MS_BIND)


def enter_mounts_of(pid: int) -> None:
    """Move the calling thread (or a single-threaded process) into the mount namespace
    of process `pid`. Its working directory becomes that namespace's root."""
    fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CLONE_FS)
        setns(fd, CLONE_NEWNS)
    finally:
        os.close(fd)


def has_own_mounts(pid: int) -> bool:
    """Whether process `pid` lives in another mount namespace than this process."""
    try:
        return os.stat(f"/proc/{pid}/ns/mnt").st_ino != os.stat("/proc/self/ns/mnt").st_ino
    except FileNotFoundError:
        return False


def in_own_thread(work: Callable[[], T]) -> T:
    """Run `work` in a thread of its own and return its result (or raise its error):
    the namespaces that thread enters end with it."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="cnm-mountns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
