"""A container's process in a sandbox: its own root, PID namespace, user and capabilities.

Every container process starts from a fresh, short-lived thread of the engine
that makes itself the sandbox and is thrown away after, so nothing it changes
(its namespaces, root, working directory, capability bounding set, uid) reaches
the rest of the engine. For a container's first process the thread

1. enters the sandbox's network and UTS namespaces, unshares a mount and a PID
   namespace and makes every mount private (nothing propagates to the machine);
2. assembles the root on a mountpoint of its own: an overlay of the busybox root
   with a per-container writable layer, or the machine's root bound read-only
   (recursively) with fresh tmpfs on /tmp, /run, /var/tmp and /root; then /sys
   (read-only, of the sandbox's network namespace), /dev (tmpfs with the host's
   null, zero, full, random, urandom and tty; a devpts instance of its own, /dev/shm),
   the engine's /etc files, -v binds and tmpfs mounts, and --read-only;
3. pivots into it, drops the bounding set to the container's capabilities and
   takes the container's uid/gid (raw syscalls: this thread only, saved uid 0);
4. starts a stub as PID 1 that waits on a pipe, mounts /proc of the new PID
   namespace (`pidns=`: a thread cannot enter the PID namespace it made), then
   lets the stub exec the command.

An exec enters the namespaces of the container's PID 1 (mount, PID, network,
UTS) and starts its process the same way, with no stub.
"""

from __future__ import annotations

import _thread
import fcntl
import os
import shutil
import signal
import struct
import subprocess
import termios
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from emulator.fabric import syscalls as sc
from emulator.fabric.netns import setns, unshare
from emulator.fabric.rootfs import busybox_root, ensure_mountpoint

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
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
HOST_VIEW_TMPFS = (("/tmp", "mode=1777"), ("/run", "mode=755"), ("/var/tmp", "mode=1777"),
                   ("/root", "mode=700"))
STUB = 'read _ <&3 || exit 111; exec 3<&-; exec -a "$0" "$@"'
"""PID 1 until /proc is ready: it waits for a line on fd 3, then becomes the command."""
TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430


class SandboxSetupError(Exception):
    """A container's root could not be made as asked (a message for the user)."""


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
class Identity:
    """Who a process runs as, and with what: `user` as Docker takes it (uid, name,
    uid:gid, name:group; empty for root), `capabilities` by name (None: all)."""

    user: str = ""
    capabilities: frozenset[str] | None = None
    workdir: str = "/"


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


@dataclass
class Pty:
    """The master side of a pseudo-terminal made in a container's devpts."""

    master: int
    slave_path: str


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


# -- users -----------------------------------------------------------------------------


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


def _take_identity(identity: Identity) -> tuple[int, int]:
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


def _executable(program: str, env: Mapping[str, str]) -> str:
    found = program if "/" in program else shutil.which(program, path=env.get("PATH",
                                                                             os.defpath))
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise FileNotFoundError(2, f"No such file or directory: {program!r}")
    return found


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
        executable = _executable(argv[0], env)
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
        uid, _gid = _take_identity(spec.identity)
        release_read, release = os.pipe()
        try:
            sc.close_on_exec_from(3)
            pid = os.posix_spawn(
                "/bin/busybox", ["sh", "-c", STUB, argv[0], executable, *argv[1:]], env,
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


# -- exec ------------------------------------------------------------------------------------


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
        _executable(argv[0], env)
        _take_identity(identity)
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)

    return in_fresh_thread(start)


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


def set_window(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


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


def spawn_on_pty_here(argv: list[str], env: dict[str, str], size: tuple[int, int] | None,
                      identity: Identity | None = None) -> tuple[PtyProcess, int]:
    """Start argv on a new pseudo-terminal of the calling thread's /dev/ptmx, as its
    controlling terminal (glibc's posix_spawn makes the session before it opens the
    terminal), with `identity` taken first (only in a thread of its own)."""
    executable = _executable(argv[0], env)
    pty = open_pty("/dev/ptmx")
    try:
        if size is not None:
            set_window(pty.master, *size)
        if identity is not None:
            _take_identity(identity)
        sc.close_on_exec_from(3)
        pid = os.posix_spawn(executable, argv, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, pty.slave_path, os.O_RDWR, 0),
            (os.POSIX_SPAWN_DUP2, 0, 1),
            (os.POSIX_SPAWN_DUP2, 0, 2),
        ], setsid=True)
    except BaseException:
        os.close(pty.master)
        raise
    return PtyProcess(pid), pty.master
