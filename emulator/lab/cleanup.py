"""`cnm clean`: remove what labs whose owning process is gone left behind.

A dead lab can leave only processes (Docker host shells, container processes,
anything else it started), its run directory, and the cgroups of its real Docker
hosts' containers: every link, address, rule and mount lives in a namespace that
exists only while one of those processes does. The processes are found by the
state file, by the CNM_LAB mark in their environment, and (a real dockerd's
containers, which carry no mark) by their cgroups; only those whose owner is
verifiably gone are ended. `only` limits
all of this to one lab (`cnm clean NAME`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from emulator.fabric.processes import LAB_ENV, ProcessId, kill
from emulator.lab.cgroups import cgroup_labs, remove_lab_cgroups
from emulator.lab.state import RUN_ROOT, RunDir, all_run_dirs, owner_of_marker

CLAIM_GRACE_S = 10.0


@dataclass
class CleanReport:
    labs: list[str] = field(default_factory=list)
    processes: int = 0
    skipped_running: list[str] = field(default_factory=list)


def marked_processes(prefix: bytes) -> list[tuple[str, ProcessId]]:
    """(marker, process) for every live process carrying a CNM_LAB mark."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        for var in environ.split(b"\0"):
            if var.startswith(prefix):
                try:
                    found.append((var[len(prefix):].decode(), ProcessId.of(int(entry))))
                except (ProcessLookupError, UnicodeDecodeError):
                    pass
                break
    return found


def clean(root: Path | None = None, only: str | None = None) -> CleanReport:
    report = CleanReport()
    dead: list[RunDir] = []
    for run_dir in all_run_dirs(root):
        if only is not None and run_dir.name != only:
            continue
        state = run_dir.read()
        if state is not None and state.owner.alive():
            report.skipped_running.append(run_dir.name)
            continue
        if state is None and run_dir.age() < CLAIM_GRACE_S:
            continue  # a lab that is just claiming its directory
        if state is not None:
            for proc in state.all_processes():
                if proc.alive():
                    kill(proc)
                    report.processes += 1
        dead.append(run_dir)
        report.labs.append(run_dir.name)
    for marker, proc in marked_processes(f"{LAB_ENV}=".encode()):
        parsed = owner_of_marker(marker)
        if parsed is None:
            continue
        lab, owner = parsed
        if only is not None and lab != only:
            continue
        if owner.alive() or not proc.alive():
            continue
        kill(proc)
        report.processes += 1
        if lab not in report.labs:
            report.labs.append(lab)
    for lab in sorted(cgroup_labs()):
        if only is not None and lab != only:
            continue
        state = RunDir(lab, root).read()
        if state is not None and state.owner.alive():
            continue
        report.processes += remove_lab_cgroups(lab)
        if lab not in report.labs:
            report.labs.append(lab)
    for run_dir in dead:  # last: a real dockerd writes under it until it is ended
        run_dir.remove()
    _remove_start_logs(root or RUN_ROOT, only)
    return report


def _remove_start_logs(root: Path, only: str | None) -> None:
    """`.<lab>.log` beside the run directories: earlier versions' start logs, which an
    interrupted `cnm lab up` left behind."""
    if not root.is_dir():
        return
    for path in root.glob(".*.log"):
        lab = path.name[1:-len(".log")]
        if only is not None and lab != only:
            continue
        state = RunDir(lab, root).read()
        if state is None or not state.owner.alive():
            path.unlink(missing_ok=True)
