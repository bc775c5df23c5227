"""The system calls a container sandbox needs that Python 3.11 lacks, from libc.

mount(2), umount2(2), pivot_root(2), mount_setattr(2), prctl(2) and the raw
credential calls. The credential calls go through syscall(2) on purpose: glibc's
setresuid/setgroups wrappers change every thread of the process (POSIX wants
that), while the sandbox changes only the one short-lived thread that sets a
container's process up.
"""

from __future__ import annotations

import ctypes
import os
import platform

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MNT_DETACH = 0x2
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NODEV = 0x4
PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
CLOSE_RANGE_CLOEXEC = 1 << 2

CLONE_FS = 0x00000200
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

_NUMBERS = {
    "x86_64": {"pivot_root": 155, "setgroups": 116, "setresuid": 117, "setresgid": 119,
               "mount_setattr": 442, "close_range": 436},
    "aarch64": {"pivot_root": 41, "setgroups": 159, "setresuid": 147, "setresgid": 149,
                "mount_setattr": 442, "close_range": 436},
}[platform.machine()]


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    raw = data.encode() if data else None
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, flags, raw),
           f"mount {source or fstype or ''} on {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_NUMBERS["pivot_root"], new_root.encode(), put_old.encode()),
           "pivot_root")


def restrict_recursively(path: str, read_only: bool) -> None:
    """Every mount at and under `path` without devices (a device node made there opens
    nothing), and read-only if asked (mount_setattr with AT_RECURSIVE)."""
    attr = _MountAttr(MOUNT_ATTR_NODEV | (MOUNT_ATTR_RDONLY if read_only else 0), 0, 0, 0)
    _check(_libc.syscall(_NUMBERS["mount_setattr"], AT_FDCWD, path.encode(), AT_RECURSIVE,
                         ctypes.byref(attr), ctypes.sizeof(attr)), f"mount_setattr {path}")


def close_on_exec_from(first: int) -> None:
    """Every descriptor of the process from `first` on becomes close-on-exec (close_range
    with CLOSE_RANGE_CLOEXEC, one call). Python makes its own descriptors so already;
    this catches those of C libraries and inherited ones, which posix_spawn would
    otherwise hand to a container's process (Python's posix_spawn has no closefrom)."""
    _check(_libc.syscall(_NUMBERS["close_range"], ctypes.c_uint(first),
                         ctypes.c_uint(0xFFFFFFFF), ctypes.c_uint(CLOSE_RANGE_CLOEXEC)),
           "close_range")


def drop_bounding(cap: int) -> None:
    _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")


def set_thread_credentials(uid: int, gid: int, groups: tuple[int, ...]) -> None:
    """The calling thread (only) becomes uid/gid with these supplementary groups, its
    saved uid staying 0 so it can take root back (`become_root_again`): a process it
    starts has uid, effective and saved, all `uid`."""
    array = (ctypes.c_uint * max(1, len(groups)))(*groups)
    _check(_libc.syscall(_NUMBERS["setgroups"], len(groups), array), "setgroups")
    _check(_libc.syscall(_NUMBERS["setresgid"], gid, gid, gid), "setresgid")
    _check(_libc.syscall(_NUMBERS["setresuid"], uid, uid, 0), "setresuid")


def become_root_again() -> None:
    """Effective uid 0 for the calling thread (its saved uid is 0): its capabilities
    come back with it."""
    _check(_libc.syscall(_NUMBERS["setresuid"], -1, 0, -1), "setresuid")


def _read_last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as knob:
            return int(knob.read())
    except OSError:
        return 40


LAST_CAPABILITY = _read_last_capability()
"""Read once, here: a setup thread no longer sees the machine's /proc."""
