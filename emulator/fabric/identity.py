"""Who a container's process is, set up in a thread of its own.

Every container process starts from a fresh, short-lived thread of the engine
that makes itself the sandbox and is thrown away after, so nothing it changes
(its namespaces, root, working directory, capability bounding set, uid) reaches the
rest of the engine (`in_fresh_thread`). The thread takes the process's identity
last: its capability bounding set dropped to the container's, then its uid and gids
by raw syscalls (glibc's wrappers would change every thread), its saved uid staying
0 so it can finish the setup as root (`take_identity`).
"""

from __future__ import annotations

import _thread
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from emulator.fabric import syscalls as sc

T = TypeVar("T")

CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
"""Capability names (without CAP_) by number."""
class SandboxSetupError(Exception):
    """A container's root could not be made as asked (a message for the user)."""


@dataclass(frozen=True)
class Identity:
    """Who a process runs as, and with what: `user` as Docker takes it (uid, name,
    uid:gid, name:group; empty for root), `capabilities` by name (None: all)."""

    user: str = ""
    capabilities: frozenset[str] | None = None
    workdir: str = "/"


def in_fresh_thread(work: Callable[..., T], early: bool = False) -> T:
    """Run `work` in a new thread and return what it returns (or raise what it raised):
    everything it changes about its thread goes with the thread. With `early`, `work`
    is given a function that hands its result back at once, the thread going on. A
    bare `_thread`: threading.Thread's bookkeeping costs several times the thread
    itself, at every container start."""
    box: dict[str, object] = {}
    done = _thread.allocate_lock()
    done.acquire()

    def hand_back(value: T) -> None:
        if not box:
            box["value"] = value
            done.release()

    def run() -> None:
        try:
            value = work(hand_back) if early else work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            if not box:
                box["error"] = exc
                done.release()
        else:
            hand_back(value)

    _thread.start_new_thread(run, ())
    done.acquire()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _table(path: str) -> list[list[str]]:
    try:
        with open(path) as text:
            return [line.rstrip("\n").split(":") for line in text if line.strip()
                    and not line.startswith("#")]
    except FileNotFoundError:
        return []


def resolve_user(user: str) -> tuple[int, int, tuple[int, ...]]:
    """uid, gid and supplementary groups of Docker's `--user` value, looked up in the
    calling thread's /etc/passwd and /etc/group (the container's, after the pivot);
    the groups hold the gid too, as runc's do."""
    if not user:
        return 0, 0, (0,)
    name, _, group = user.partition(":")
    passwd = _table("/etc/passwd")
    groups = _table("/etc/group")
    entry = next((row for row in passwd if len(row) > 3 and row[0] == name), None)
    if entry is None and not name.isdigit():
        raise SandboxSetupError(f"unable to find user {name}: no matching entries in passwd "
                                "file")
    if entry is None:
        uid, gid = int(name), 0
        entry = next((row for row in passwd if len(row) > 3 and row[2] == name), None)
        if entry is not None:
            gid = int(entry[3])
    else:
        uid, gid = int(entry[2]), int(entry[3])
    if group:
        row = next((row for row in groups if len(row) > 2 and row[0] == group), None)
        if row is not None:
            gid = int(row[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise SandboxSetupError(f"unable to find group {group}: no matching entries in "
                                    "group file")
    login = entry[0] if entry is not None else None
    extra = tuple(sorted({gid} | {int(row[2]) for row in groups if len(row) > 3 and login
                                  and login in row[3].split(",")}))
    return uid, gid, extra


def take_identity(identity: Identity) -> tuple[int, int]:
    """Drop the thread's bounding set to the identity's capabilities and take its uid/gid
    (saved uid staying 0); returns (uid, gid)."""
    uid, gid, extra = resolve_user(identity.user)
    if identity.capabilities is not None:
        keep = {CAPABILITIES.index(name) for name in identity.capabilities
                if name in CAPABILITIES}
        for cap in range(sc.LAST_CAPABILITY + 1):
            if cap not in keep:
                sc.drop_bounding(cap)
    if uid or gid or extra != (0,):
        sc.set_thread_credentials(uid, gid, extra)
    return uid, gid


def executable(program: str, env: Mapping[str, str]) -> str:
    found = program if "/" in program else shutil.which(program, path=env.get("PATH",
                                                                             os.defpath))
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise FileNotFoundError(2, f"No such file or directory: {program!r}")
    return found
