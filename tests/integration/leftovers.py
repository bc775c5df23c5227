"""What a lab can leave behind, and the checks that it left nothing.

A lab's links, addresses and rules live only in namespaces its processes hold, so
"nothing left" is checked as: no file of the lab under the run root (its run
directory, its log, a start log), no process marked CNM_LAB=<lab>., no cgroup of
its real Docker hosts' containers (which hold any process left in them), none of the
network namespaces the lab was seen to use still held by any process (as its
namespace, a thread's, or an open file descriptor), and the machine's own
namespace (links, addresses, routes, nft rules) and mounts as they were.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from pathlib import Path

from conftest import machine_snapshot, run_cnm

from emulator.fabric.netns import CLONE_NEWNET, setns
from emulator.fabric.processes import ProcessId
from emulator.lab.cgroups import lab_cgroups
from emulator.lab.cleanup import clean, marked_processes
from emulator.lab.state import FILES_ROOT, RUN_ROOT, LabState, RunDir

SO_NETNS_COOKIE = 71  # Linux 5.14; not in Python's socket module


def marked(name: str) -> list[ProcessId]:
    """Live processes that carry CNM_LAB=<name>.<owner pid>.<owner start>."""
    return [proc for _, proc in marked_processes(f"CNM_LAB={name}.".encode())]


def net_inode_of(path: str) -> str | None:
    """'net:[4026532...]' for a /proc .../ns/net or fd link, or None."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return target if target.startswith("net:[") else None


def _net_links(pid: int) -> list[str]:
    """/proc paths through which process `pid` holds a network namespace: its own,
    its threads', its open file descriptors'."""
    links = [f"/proc/{pid}/ns/net"]
    for sub in ("task", "fd"):
        try:
            names = os.listdir(f"/proc/{pid}/{sub}")
        except OSError:
            continue
        links += [f"/proc/{pid}/task/{item}/ns/net" if sub == "task" else f"/proc/{pid}/fd/{item}"
                  for item in names]
    return links


def netns_cookie(link: str) -> int | None:
    """The cookie of the network namespace `link` names, or None if it is gone. Unlike
    its inode number, which the kernel gives to the next new namespace once this one
    is freed, a cookie is never reused."""
    found: list[int] = []

    def inside() -> None:  # setns changes this short-lived thread only
        try:
            fd = os.open(link, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            setns(fd, CLONE_NEWNET)
        except OSError:
            return
        finally:
            os.close(fd)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
            found.append(int.from_bytes(probe.getsockopt(socket.SOL_SOCKET,
                                                         SO_NETNS_COOKIE, 8), "little"))

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    return found[0] if found else None


class LabNamespaces:
    """The network namespaces a lab was seen to use, by inode and cookie: `still_used()`
    tells which of them some process still holds (a namespace, a thread's, an open
    file descriptor), not mistaking a new namespace that got a freed one's inode."""

    def __init__(self, links: list[str]) -> None:
        machine = {net_inode_of("/proc/1/ns/net"), net_inode_of("/proc/self/ns/net")}
        self._cookies: dict[str, int] = {}
        for link in links:
            inode = net_inode_of(link)
            if inode is None or inode in machine or inode in self._cookies:
                continue
            cookie = netns_cookie(link)
            if cookie is not None and net_inode_of(link) == inode:
                self._cookies[inode] = cookie

    @property
    def inodes(self) -> set[str]:
        return set(self._cookies)

    def __len__(self) -> int:
        return len(self._cookies)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabNamespaces) and other._cookies == self._cookies

    def still_used(self) -> set[str]:
        used: set[str] = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            for link in _net_links(int(entry)):
                inode = net_inode_of(link)
                if inode in self._cookies and inode not in used:
                    if netns_cookie(link) == self._cookies[inode]:
                        used.add(inode)
        return used


def lab_net_namespaces(name: str, state: LabState | None,
                       owner: int | None = None) -> LabNamespaces:
    """The network namespaces of every process of the lab alive now, and (given the
    lab process `owner`) every one it holds: the world's before any host exists."""
    procs = set(marked(name))
    if state is not None:
        procs.update(state.all_processes())
    links = [f"/proc/{proc.pid}/ns/net" for proc in procs if proc.alive()]
    if owner is not None:
        links += _net_links(owner)
    return LabNamespaces(links)


def lab_files(name: str) -> list[Path]:
    """Files of lab `name` under the run root (its run directory, its logs) and its
    containers' /etc files."""
    files = [FILES_ROOT / name] if (FILES_ROOT / name).exists() else []
    if not RUN_ROOT.is_dir():
        return files
    return sorted(files + [p for p in RUN_ROOT.iterdir()
                           if p.name == name or p.name.startswith((f"{name}.", f".{name}."))])


def assert_nothing_left(name: str, namespaces: LabNamespaces | None = None) -> None:
    assert not lab_files(name), f"files of {name} left behind: {lab_files(name)}"
    assert not marked(name), f"processes of {name} left behind: {marked(name)}"
    groups = lab_cgroups(name)  # a real dockerd's containers (no mark of their own)
    assert not groups, f"cgroups of {name} left behind: {groups}"
    if namespaces is not None:
        held = namespaces.still_used()
        assert not held, f"network namespaces of {name} still in use: {sorted(held)}"


def machine_state() -> dict[str, str]:
    """The machine's own namespace (see conftest.machine_snapshot) and its mounts."""
    state = machine_snapshot()
    state["mounts"] = Path("/proc/1/mountinfo").read_text()
    return state


def wait_gone(pid: int, timeout: float) -> bool:
    """Block until process `pid` has exited (zombie or reaped), at most `timeout` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def backstop(name: str) -> None:
    """Remove lab `name` whatever state a failed test left it in; only this lab."""
    if RunDir(name).exists():
        state = RunDir(name).read()
        if state is not None and state.owner.alive():
            run_cnm("lab", "down", name)
    clean(only=name)
