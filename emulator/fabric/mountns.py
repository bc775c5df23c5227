"""Mount namespaces for unsandboxed containers: their own /etc files, the machine's rest.

Containers start in sandboxes of their own (fabric/containerroot); with the sandbox
switched off (to measure it, `engine.sandboxing(False)`), a container's process
starts as before it: in a mount namespace of its own, a private copy of
the machine's (so nothing mounted there propagates back), in which the three
files are bind-mounted from the engine's per-container files, as runc mounts
dockerd's. The rest of the filesystem is the machine's, so the container runs
the host's binaries as before. The namespace lives as long as the container's
processes do: nothing is mounted anywhere else, and nothing is left when they end.

Python 3.11 has neither os.unshare nor os.setns nor mount(2): they come from
libc. A mount namespace belongs to a thread (the rest of the process never sees
it), but switching one needs a filesystem context (cwd, root, umask) of the
thread's own, which CLONE_FS gives it for the rest of its life. The switch is
done in the calling thread and undone before it goes on (`private_mounts`,
`mounts_of`): starting a process from a fresh thread instead costs more than
the namespace itself (about 0.5 ms here, against 0.2 ms).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from emulator.fabric.netns import setns, unshare

CLONE_NEWNS = 0x00020000
CLONE_FS = 0x00000200
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]


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


@contextmanager
def private_mounts(binds: Mapping[str, str]) -> Iterator[None]:
    """The body runs with the calling thread in a new private mount namespace with
    `binds` (see private_with_binds); what it starts keeps that namespace, the thread
    returns to its own (and to its working directory) after."""
    with _returning():
        private_with_binds(binds)
        yield


@contextmanager
def mounts_of(pid: int) -> Iterator[None]:
    """The body runs with the calling thread in the mount namespace of process `pid`."""
    fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _returning():
            setns(fd, CLONE_NEWNS)
            yield
    finally:
        os.close(fd)


@contextmanager
def _returning() -> Iterator[None]:
    """Bring the calling thread back to the mount namespace and working directory it
    has now once the body is done, however it ends."""
    home = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        cwd: int | None = os.open(".", os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:  # removed: nothing to return to
        cwd = None
    try:
        unshare(CLONE_FS)  # this thread's filesystem context only (a no-op the next time)
        try:
            yield
        finally:
            setns(home, CLONE_NEWNS)  # resets cwd and root to that namespace's
            if cwd is not None:
                os.fchdir(cwd)
    finally:
        os.close(home)
        if cwd is not None:
            os.close(cwd)


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
