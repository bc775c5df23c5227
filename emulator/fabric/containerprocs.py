"""A container's processes as the kernel shows them: which they are, what they use
(CPU, memory, network), and freezing them (`docker pause`).

Every process of a container lives in the PID namespace of its first process
(`container.pid`), when the container has a PID namespace of its own; a container
that shares the machine's PID namespace has its first process, that process's
descendants and the processes that entered its network namespace (`docker exec`).
Figures come from /proc: CPU times (utime + stime), resident memory, and the
counters of the container's interfaces (/proc/PID/net/dev shows the process's own
network namespace). Freezing uses the cgroup v1 freezer hierarchy: one cgroup per
paused container, made on pause and removed on unpause.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from emulator.fabric.processes import stat_fields

PROC = Path("/proc")
FREEZER = Path("/sys/fs/cgroup/freezer")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
NS_PER_TICK = 1_000_000_000 // TICKS


def _ns_inode(pid: int | str, kind: str) -> int | None:
    try:
        return os.stat(PROC / str(pid) / "ns" / kind).st_ino
    except OSError:
        return None


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir(PROC) if name.isdigit()]


def _children(pid: int) -> list[int]:
    """The children of `pid`, from each of its threads' `children` list."""
    found: list[int] = []
    try:
        tasks = os.listdir(PROC / str(pid) / "task")
    except OSError:
        return found
    for tid in tasks:
        try:
            found += [int(v) for v in (PROC / str(pid) / "task" / tid / "children")
                      .read_text().split()]
        except OSError:
            continue
    return found


def container_pids(pid1: int) -> list[int]:
    """The processes of the container whose first process is `pid1` (host pids, sorted):
    the members of its PID namespace if it has one of its own; otherwise `pid1`, its
    descendants, and its parent's other children in its own network namespace (what
    `docker exec` started there) with theirs."""
    own = _ns_inode(pid1, "pid")
    if own is None or not pid1:
        return []
    if own != _ns_inode("self", "pid"):
        return sorted(p for p in _all_pids() if _ns_inode(p, "pid") == own)
    roots = [pid1]
    net = _ns_inode(pid1, "net")
    parent = stat_fields(pid1)
    if net is not None and parent is not None and net != _ns_inode(int(parent[1]), "net"):
        roots += [p for p in _children(int(parent[1])) if _ns_inode(p, "net") == net]
    found: set[int] = set()
    while roots:
        pid = roots.pop()
        if pid not in found and stat_fields(pid) is not None:
            found.add(pid)
            roots.extend(_children(pid))
    return sorted(found)


def send_signal(pid: int, number: int) -> None:
    """Signal a container's first process (nothing if it has just ended)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        signal.pidfd_send_signal(pidfd, number)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)


@dataclass(frozen=True)
class CpuTimes:
    user_ns: int = 0
    system_ns: int = 0

    @property
    def total_ns(self) -> int:
        return self.user_ns + self.system_ns


def cpu_times(pids: list[int]) -> CpuTimes:
    """CPU the processes used, their waited-for children's included."""
    user = system = 0
    for pid in pids:
        fields = stat_fields(pid)
        if fields is None:
            continue
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
    return CpuTimes(user * NS_PER_TICK, system * NS_PER_TICK)


def resident_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int((PROC / str(pid) / "statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def system_cpu_ns() -> int:
    """dockerd's system_cpu_usage: the machine's CPU time, all states, in nanoseconds."""
    with open(PROC / "stat") as stat:
        for line in stat:
            if line.startswith("cpu "):
                return sum(int(v) for v in line.split()[1:8]) * NS_PER_TICK
    return 0


def online_cpus() -> int:
    return len(os.sched_getaffinity(0))


def memory_total() -> int:
    """The machine's memory (the limit of a container without one)."""
    with open(PROC / "meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


INTERFACE_COUNTERS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                      "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def interface_counters(pid: int) -> dict[str, dict[str, int]]:
    """The counters of each interface of `pid`'s network namespace but the loopback."""
    try:
        lines = (PROC / str(pid) / "net" / "dev").read_text().splitlines()[2:]
    except OSError:
        return {}
    counters = {}
    for line in lines:
        name, _, numbers = line.partition(":")
        name = name.strip()
        if name == "lo":
            continue
        values = [int(v) for v in numbers.split()]
        rx, tx = values[0:4], values[8:12]
        counters[name] = dict(zip(INTERFACE_COUNTERS, rx + tx, strict=True))
    return counters


@dataclass
class Freezer:
    """Paused containers' cgroups in the freezer hierarchy, under `parent`."""

    parent: str
    root: Path = FREEZER
    timeout: float = 10.0
    frozen: set[str] = field(default_factory=set)

    def _group(self, name: str) -> Path:
        return self.root / self.parent / name

    def freeze(self, name: str, pid1: int) -> None:
        """Move the container's processes into a cgroup of their own and freeze it;
        processes that appear meanwhile are moved in until none is left out."""
        group = self._group(name)
        group.mkdir(parents=True, exist_ok=True)
        self.frozen.add(name)
        try:
            for _ in range(100):
                inside = set(_members(group))
                outside = [p for p in container_pids(pid1) if p not in inside]
                if not outside:
                    break
                for pid in outside:
                    _move(pid, group)
                (group / "freezer.state").write_text("FROZEN")
            self._await_state(group, "FROZEN")
        except BaseException:
            self.thaw(name)
            raise

    def thaw(self, name: str) -> None:
        """Thaw the container's cgroup, give its processes back to the root cgroup and
        remove it; nothing to do for a container that is not frozen."""
        group = self._group(name)
        self.frozen.discard(name)
        if not group.exists():
            return
        (group / "freezer.state").write_text("THAWED")
        self._await_state(group, "THAWED")
        for pid in _members(group):
            _move(pid, self.root)
        try:
            group.rmdir()
            (self.root / self.parent).rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EBUSY, errno.ENOENT):
                raise

    def _await_state(self, group: Path, wanted: str) -> None:
        """The freezer gives no notice: its state is read until it is reached."""
        deadline = time.monotonic() + self.timeout
        while (group / "freezer.state").read_text().strip() != wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the freezer cgroup {group} did not become {wanted}")
            time.sleep(0.005)


def _members(group: Path) -> list[int]:
    try:
        return [int(v) for v in (group / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def _move(pid: int, group: Path) -> None:
    try:
        (group / "cgroup.procs").write_text(str(pid))
    except ProcessLookupError:
        pass
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise
