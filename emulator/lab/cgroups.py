"""The cgroups a lab's real dockerd puts its containers in, and their removal.

Each real Docker host runs its containers under a cgroup parent named after the lab
and the host (`cnm.<lab>.<host>`), in every cgroup v1 hierarchy. Container
processes do not carry the lab's CNM_LAB mark (Docker gives them an environment of
their own), so after a SIGKILL of the lab these cgroups are how `cnm clean` finds
them; and the cgroup directories themselves outlive the processes until removed.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
EMPTY_WAIT_S = 10.0


def cgroup_parent(lab: str, host: str) -> str:
    """dockerd's --cgroup-parent for one host of one lab."""
    return f"cnm.{lab}.{host}"


def lab_cgroups(lab: str, host: str | None = None, root: Path = CGROUP_ROOT) -> list[Path]:
    """Every cgroup directory of the lab's real Docker hosts (or of one), deepest first."""
    found: list[Path] = []
    for hierarchy in _hierarchies(root):
        for top in hierarchy.glob(cgroup_parent(lab, host or "*")):
            found.extend(sorted((p for p in top.rglob("*") if p.is_dir()),
                                key=lambda p: len(p.parts), reverse=True))
            found.append(top)
    return found


def cgroup_labs(root: Path = CGROUP_ROOT) -> set[str]:
    """The labs that have cgroups on this machine."""
    return {p.name.split(".")[1] for h in _hierarchies(root) for p in h.glob("cnm.*.*")}


def remove_lab_cgroups(lab: str, only_host: str | None = None,
                       root: Path = CGROUP_ROOT) -> int:
    """SIGKILL every process in the lab's cgroups (or one host's), then remove them;
    returns how many processes were ended. Raises OSError if a cgroup stays busy."""
    ended = 0
    groups = lab_cgroups(lab, only_host, root)
    for group in groups:
        _thaw(group)  # a paused container's processes must run to die
    for group in groups:
        for pid in _procs(group):
            try:
                os.kill(pid, signal.SIGKILL)
                ended += 1
            except ProcessLookupError:
                pass
    for group in groups:
        _rmdir_when_empty(group)
    return ended


def _hierarchies(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []


def _thaw(group: Path) -> None:
    state = group / "freezer.state"
    try:
        if state.read_text().strip() != "THAWED":
            state.write_text("THAWED")
    except OSError:
        pass


def _procs(group: Path) -> list[int]:
    try:
        return [int(line) for line in (group / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _rmdir_when_empty(group: Path) -> None:
    """A killed process leaves its cgroup a moment after the signal: wait for that."""
    deadline = time.monotonic() + EMPTY_WAIT_S
    while True:
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
