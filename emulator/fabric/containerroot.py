"""A container's process in a sandbox: its own root, PID namespace, user and capabilities.

A container's first process starts from a fresh, short-lived thread of the engine
(fabric/identity) that

1. enters the sandbox's network and UTS namespaces, unshares a mount and a PID
   namespace and makes every mount private (nothing propagates to the machine);
2. assembles the root on a mountpoint of its own: an overlay of the busybox root
   or of the machine's root (its other filesystems bound read-only, fresh tmpfs on
   /tmp, /run, /var/tmp and /root, the project and its Python bound back read-only
   where those hide them) with a per-container writable layer; then /sys
   (read-only, of the sandbox's network namespace), /dev (tmpfs with the host's
   null, zero, full, random, urandom and tty; a devpts instance of its own, /dev/shm),
   the engine's /etc files, -v binds and tmpfs mounts, and --read-only;
3. pivots into it, drops the bounding set to the container's capabilities and
   takes the container's uid/gid (raw syscalls: this thread only, saved uid 0);
4. starts a stub as PID 1 that waits on a pipe, hands its pid back to the engine,
   mounts /proc of the new PID namespace (`pidns=`: a thread cannot enter the PID
   namespace it made), unmounts the machine's root from the namespace, then lets
   the stub exec the command.

An exec joins them (fabric/containerexec).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator.fabric import syscalls as sc
from emulator.fabric.identity import (
    Identity,
    SandboxSetupError,
    executable,
    in_fresh_thread,
    take_identity,
)
from emulator.fabric.netns import setns, unshare
from emulator.fabric.rootfs import busybox_root, ensure_mountpoint
from emulator.fabric.terminals import open_pty, set_window

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
PROJECT_ROOT = str(Path(__file__).resolve().parents[2])
HOST_VIEW_TMPFS = (("/tmp", "mode=1777"), ("/run", "mode=755"), ("/var/tmp", "mode=1777"),
                   ("/root", "mode=700"))
STUB = 'read _ <&3 || exit 111; exec 3<&-; exec -a "$0" "$@"'
"""PID 1 until /proc is ready: it waits for a line on fd 3, then becomes the command."""



@dataclass(frozen=True)
class MountSpec:
    """A -v bind or a tmpfs, in the container at `target`."""

    target: str
    kind: str  # "bind" or "tmpfs"
    source: str = ""
    read_only: bool = False
    options: str = ""  # tmpfs mount data: size=..., mode=...
    flags: int = sc.MS_NOSUID | sc.MS_NODEV  # tmpfs mount flags


@dataclass(frozen=True)
class RootSpec:
    """What a container's PID 1 sees: `base` "busybox" (an overlay of the busybox root,
    its writable layer in `layer` or in memory) or "host" (the machine's root, read-only)."""

    base: str
    identity: Identity = field(default_factory=Identity)
    layer: Path | None = None
    files: tuple[tuple[str, str], ...] = ()  # (path in the container, file on the host)
    mounts: tuple[MountSpec, ...] = ()
    read_only: bool = False
    tty: bool = False
    """PID 1 on a pseudo-terminal of the container's devpts (its controlling terminal)."""
    console_size: tuple[int, int] | None = None
    """(rows, columns) of that terminal at start."""


# -- a container's first process ------------------------------------------------------------


def _ensure_dir(path: str, what: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise SandboxSetupError(f"{what}: cannot create {path.removeprefix(str(_mnt()))}: "
                                f"{exc.strerror} (the root filesystem of images other than "
                                "alpine and busybox is the machine's, read-only)") from None


def _ensure_file(path: str, what: str) -> None:
    if os.path.exists(path):
        return
    _ensure_dir(os.path.dirname(path), what)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    except OSError as exc:
        raise SandboxSetupError(f"{what}: cannot create {path}: {exc.strerror}") from None


def _mnt() -> Path:
    return ensure_mountpoint()


def _assemble(spec: RootSpec) -> str:
    """Mount the container's root on the mountpoint (the thread is in a private mount
    namespace of its own); returns its path."""
    new = str(_mnt())
    if spec.base == "busybox":
        _overlay(new, str(busybox_root()), spec.layer)
    else:
        _host_view(new, spec.layer)
    privileged = spec.identity.capabilities is None
    sc.mount("sysfs", f"{new}/sys", "sysfs",
             (0 if privileged else sc.MS_RDONLY) | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    _make_dev(f"{new}/dev")
    for target, source in spec.files:
        _ensure_file(new + target, target)
        sc.mount(source, new + target, None, sc.MS_BIND)
    for item in spec.mounts:
        _mount_item(new, item)
    workdir = spec.identity.workdir or "/"
    _ensure_dir(new + workdir, f"-w {workdir}")  # as dockerd, even on a read-only root
    if spec.read_only:
        sc.mount(None, new, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | sc.MS_NODEV)
    return new


def _overlay(new: str, lower: str, layer: Path | None) -> None:
    """An overlay of `lower` on `new`, written to `layer` (in memory without one)."""
    if layer is None:
        sc.mount("tmpfs", new, "tmpfs", sc.MS_NODEV, "mode=755")
        upper, work = f"{new}/upper", f"{new}/work"
        os.mkdir(upper)
        os.mkdir(work)
    else:
        upper, work = str(layer / "upper"), str(layer / "work")
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
    sc.mount("overlay", new, "overlay", sc.MS_NODEV,
             f"lowerdir={lower},upperdir={upper},workdir={work}")


def _host_view(new: str, layer: Path | None) -> None:
    """The machine's root under a writable layer of the container's own (nothing reaches
    the machine), its other filesystems bound read-only, fresh tmpfs on /tmp, /run,
    /var/tmp and /root. Where the kernel refuses the overlay, the root itself is bound
    read-only instead."""
    submounts = _submounts_of_root()
    try:
        _overlay(new, "/", layer)
    except OSError:
        sc.mount("/", new, None, sc.MS_BIND | sc.MS_REC)
        sc.restrict_recursively(new, read_only=True)
    else:
        for path in submounts:
            if os.path.isdir(new + path) or os.path.isfile(new + path):
                sc.mount(path, new + path, None, sc.MS_BIND | sc.MS_REC)
                sc.restrict_recursively(new + path, read_only=True)
    for target, options in HOST_VIEW_TMPFS:
        sc.mount("tmpfs", new + target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, options)
    for path in _covered_tool_paths():
        os.makedirs(new + path, exist_ok=True)
        sc.mount(path, new + path, None, sc.MS_BIND | sc.MS_REC)
        sc.restrict_recursively(new + path, read_only=True)


@functools.cache
def _covered_tool_paths() -> tuple[str, ...]:
    """The project's checkout and Python installations that a fresh tmpfs (/tmp, /root,
    ...) would hide: experiments run the project's own modules in containers, from
    wherever it was cloned. Bound back read-only."""
    covered = [target for target, _ in HOST_VIEW_TMPFS]
    paths = {os.path.realpath(p) for p in (PROJECT_ROOT, sys.prefix, sys.base_prefix,
                                           sys.exec_prefix)}
    kept = sorted(p for p in paths if any(p.startswith(c + "/") for c in covered))
    return tuple(p for p in kept if not any(p.startswith(o + "/") for o in kept))


def _submounts_of_root() -> list[str]:
    """Mountpoints of the machine's other filesystems right under its root mount, but for
    those a container gets its own of (/proc, /sys, /dev, /run, /tmp, ...)."""
    rows = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    root_id = next((row[0] for row in rows if row[4] == "/"), None)
    own = ("/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/root", str(_mnt()))
    out = []
    for row in rows:
        path = row[4].encode().decode("unicode_escape")
        if row[1] == root_id and path != "/" and not any(
                path == p or path.startswith(p + "/") for p in own):
            out.append(path)
    return out


DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
             ("core", "/proc/kcore"), ("ptmx", "pts/ptmx"))


def _make_dev(dev: str) -> None:
    """The container's /dev: a tmpfs without devices of its own (no device node a
    container makes there opens anything: there is no devices cgroup), with the host's
    null, zero, full, random, urandom and tty bound in, a devpts instance of its own
    and /dev/shm."""
    sc.mount("tmpfs", dev, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "mode=755,size=65536k")
    for name in DEVICES:
        path = f"{dev}/{name}"
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o666))
        sc.mount(f"/dev/{name}", path, None, sc.MS_BIND)
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(f"{dev}/{name}")
    for name, target in DEV_LINKS:
        os.symlink(target, f"{dev}/{name}")
    sc.mount("devpts", f"{dev}/pts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC,
             "newinstance,ptmxmode=0666,mode=0620,gid=5")
    sc.mount("tmpfs", f"{dev}/shm", "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
             "mode=1777,size=65536k")


def _mount_item(new: str, item: MountSpec) -> None:
    target = new + item.target
    if item.kind == "tmpfs":
        _ensure_dir(target, f"--tmpfs {item.target}")
        sc.mount("tmpfs", target, "tmpfs", item.flags, item.options or None)
        if item.read_only:
            sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | item.flags)
        return
    what = f"-v {item.source}:{item.target}"
    if os.path.isdir(item.source):
        _ensure_dir(target, what)
    else:
        _ensure_file(target, what)
    sc.mount(item.source, target, None, sc.MS_BIND | sc.MS_REC)
    sc.restrict_recursively(target, read_only=item.read_only)


def _enter_world(net: int | None, uts: int | None) -> None:
    if net is not None:
        setns(net, sc.CLONE_NEWNET)
    if uts is not None:
        setns(uts, sc.CLONE_NEWUTS)


def start_pid1(net: int | None, uts: int | None, spec: RootSpec, argv: list[str],
               env: dict[str, str], stdio: tuple[int, int, int]) -> tuple[int, int | None]:
    """Start the container's PID 1 (see the module's docstring) in a fresh thread: its
    host pid, and with `spec.tty` the master side of its terminal (`stdio` is not used
    then). `net`/`uts`: descriptors of the namespaces to enter (None: the thread's).
    Once the kernel has shown it can, the thread hands the pid back as soon as PID 1
    exists, and mounts its /proc and lets it go on after."""
    return in_fresh_thread(lambda hand_back: _start_pid1(net, uts, spec, argv, env, stdio,
                                                         hand_back), early=True)


_proc_mount_works = False
"""Whether this kernel has mounted a /proc with pidns= for us once: from then on the
last steps of a start run after the caller has its pid (off the start's path)."""


def _start_pid1(net: int | None, uts: int | None, spec: RootSpec, argv: list[str],
                env: dict[str, str], stdio: tuple[int, int, int],
                hand_back: Callable[[tuple[int, int | None]], None]) -> tuple[int, int | None]:
    unshare(sc.CLONE_FS)
    _enter_world(net, uts)
    unshare(sc.CLONE_NEWNS | sc.CLONE_NEWPID)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    host_proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    old_root: int | None = None
    try:
        new = _assemble(spec)
        os.chdir(new)
        sc.pivot_root(".", ".")
        # the machine's root is stacked on the container's now, where no path leads
        # (a walk never leaves its root): unmounted before PID 1 goes on
        old_root = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        os.chdir(spec.identity.workdir or "/")
        program = executable(argv[0], env)
        pty = open_pty("/dev/ptmx") if spec.tty else None
        if pty is not None:
            if spec.console_size:
                set_window(pty.master, *spec.console_size)
            stdio_actions = [(os.POSIX_SPAWN_OPEN, 0, pty.slave_path, os.O_RDWR, 0),
                             (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
        else:
            stdio_actions = [(os.POSIX_SPAWN_DUP2, stdio[0], 0),
                             (os.POSIX_SPAWN_DUP2, stdio[1], 1),
                             (os.POSIX_SPAWN_DUP2, stdio[2], 2)]
        uid, _gid = take_identity(spec.identity)
        release_read, release = os.pipe()
        try:
            sc.close_on_exec_from(3)
            pid = os.posix_spawn(
                "/bin/busybox", ["sh", "-c", STUB, argv[0], program, *argv[1:]], env,
                file_actions=[*stdio_actions, (os.POSIX_SPAWN_DUP2, release_read, 3)],
                setsid=True)
        except BaseException:
            os.close(release)
            if pty is not None:
                os.close(pty.master)
            raise
        finally:
            os.close(release_read)
        result = (pid, pty.master if pty is not None else None)
        early = _proc_mount_works
        if early:
            hand_back(result)
        try:
            _release_pid1(pid, uid, host_proc, old_root, release)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # the engine reaped it first
                pass
            if early:  # nobody to tell: the container has ended, as if it had crashed
                return result
            if pty is not None:
                os.close(pty.master)
            raise
        return result
    finally:
        os.close(host_proc)
        if old_root is not None:
            os.close(old_root)


def _release_pid1(pid: int, uid: int, host_proc: int, old_root: int, release: int) -> None:
    """The last steps of a start: /proc of PID 1's namespace, the machine's root
    unmounted, then PID 1 let go."""
    global _proc_mount_works
    try:
        if uid:
            sc.become_root_again()
        os.fchdir(host_proc)
        try:
            sc.mount("proc", "/proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC,
                     f"pidns={pid}/ns/pid")
        except OSError as exc:
            raise SandboxSetupError(
                f"cannot mount /proc of the container's PID namespace ({exc.strerror}): "
                "the emulator needs a kernel whose proc accepts pidns= (Linux 6.15 or "
                "later)") from None
        _proc_mount_works = True
        os.fchdir(old_root)
        sc.umount(".", sc.MNT_DETACH)
        os.write(release, b"go\n")
    finally:
        os.close(release)


