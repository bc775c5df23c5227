"""A lab's run directory: who owns the lab and which processes it started.

`/run/cnm/<lab>/state.json` (owner, hosts) is rewritten atomically when the lab
changes, and `containers/<host>/<name>` holds each running container's process,
so that `cnm exec` can find namespaces, `cnm lab ls` can tell running labs from
dead ones, and `cnm clean` knows what a killed lab left. A lab started by `cnm lab
up` keeps its log there too (`lab.log`). Every file of a lab is in its directory,
so removing the directory removes them all, except the containers' /etc files,
which are on a tmpfs (FILES_ROOT) and go with it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from emulator.fabric.processes import LAB_ENV, ProcessId
from emulator.fabric.sandboxkeys import release_leftovers

RUN_ROOT = Path(os.environ.get("CNM_RUN_ROOT", "/run/cnm"))
FILES_ROOT = Path(os.environ.get("CNM_FILES_ROOT", "/dev/shm/cnm"))
"""The containers' /etc files, on a tmpfs: on the disk, making and rewriting them
would cost a container start more than everything else together."""


def lab_marker(lab: str, owner: ProcessId) -> str:
    """The value of CNM_LAB for every process of one lab instance."""
    return f"{lab}.{owner.pid}.{owner.started}"


def owner_of_marker(marker: str) -> tuple[str, ProcessId] | None:
    lab, _, rest = marker.partition(".")
    pid, _, started = rest.partition(".")
    if not (pid.isdigit() and started.isdigit()):
        return None
    return lab, ProcessId(int(pid), int(started))


@dataclass
class LabState:
    name: str
    owner: ProcessId
    topology: str = "default"
    ready: bool = False
    hosts: dict[str, ProcessId] = field(default_factory=dict)
    outside: ProcessId | None = None
    containers: dict[str, ProcessId] = field(default_factory=dict)
    extra: list[ProcessId] = field(default_factory=list)
    lan_nodes: dict[str, ProcessId] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)
    """What runs each Docker host: emulated, or docker (a real dockerd)."""

    def engine_of(self, host: str) -> str:
        return self.engines.get(host, "emulated")

    @property
    def marker(self) -> str:
        return lab_marker(self.name, self.owner)

    @property
    def env(self) -> dict[str, str]:
        return {LAB_ENV: self.marker}

    def all_processes(self) -> list[ProcessId]:
        procs = [*self.containers.values(), *self.extra, *self.lan_nodes.values(),
                 *self.hosts.values()]
        if self.outside is not None:
            procs.append(self.outside)
        return procs

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "owner": self.owner.to_json(),
            "topology": self.topology,
            "ready": self.ready,
            "hosts": {k: v.to_json() for k, v in self.hosts.items()},
            "outside": self.outside.to_json() if self.outside else None,
            "extra": [p.to_json() for p in self.extra],
            "lan_nodes": {k: v.to_json() for k, v in self.lan_nodes.items()},
            "engines": self.engines,
        }

    @classmethod
    def from_json(cls, raw: dict) -> LabState:
        return cls(
            name=raw["name"],
            owner=ProcessId.from_json(raw["owner"]),
            topology=raw.get("topology", ""),
            ready=raw.get("ready", False),
            hosts={k: ProcessId.from_json(v) for k, v in raw.get("hosts", {}).items()},
            outside=ProcessId.from_json(raw["outside"]) if raw.get("outside") else None,
            extra=[ProcessId.from_json(p) for p in raw.get("extra", [])],
            lan_nodes={k: ProcessId.from_json(v) for k, v in raw.get("lan_nodes", {}).items()},
            engines=dict(raw.get("engines", {})),
        )


class RunDir:
    """The files of one lab under the run root."""

    def __init__(self, name: str, root: Path | None = None) -> None:
        self.name = name
        self.path = (root or RUN_ROOT) / name

    def socket(self, host: str) -> Path:
        """The Unix socket of `host`'s Engine API."""
        return self.path / f"{host}.sock"

    @property
    def node_etc(self) -> Path:
        """/etc/hosts and /etc/resolv.conf that `cnm exec` gives the lab's nodes: the
        lab's names, and the outside host's DNS server as resolver."""
        return self.path / "etc"

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def log_file(self) -> Path:
        """The lab process's output and log records (`cnm lab logs`): it goes with the lab."""
        return self.path / "lab.log"

    def container_files(self, host: str) -> Path:
        """Where `host`'s engine keeps its containers' /etc files: under FILES_ROOT for
        a lab under the default run root, else in the run directory."""
        if self.path.parent == RUN_ROOT and FILES_ROOT.parent.is_dir():
            return FILES_ROOT / self.name / host
        return self.path / "state" / host

    def exists(self) -> bool:
        return self.path.exists()

    def claim(self) -> None:
        """Create the directory; fails if a lab of this name already has one."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.mkdir(mode=0o700)

    def write(self, state: LabState) -> None:
        tmp = self.path / "state.json.tmp"
        tmp.write_text(json.dumps(state.to_json(), separators=(",", ":")))
        os.replace(tmp, self.state_file)

    def read(self) -> LabState | None:
        try:
            state = LabState.from_json(json.loads(self.state_file.read_text()))
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, KeyError):
            return None
        state.containers = self.containers()
        return state

    @property
    def _containers_dir(self) -> Path:
        return self.path / "containers"

    def record_container(self, host: str, cid: str, name: str, process: ProcessId) -> None:
        """The file is named by the container's ID: a name can be longer than a file name."""
        folder = self._containers_dir / host
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / cid, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{process.pid} {process.started} {name}\n".encode())
        finally:
            os.close(fd)

    def forget_container(self, host: str, cid: str) -> None:
        (self._containers_dir / host / cid).unlink(missing_ok=True)

    def containers(self) -> dict[str, ProcessId]:
        """HOST/NAME -> process of every running container the lab recorded."""
        found: dict[str, ProcessId] = {}
        if not self._containers_dir.is_dir():
            return found
        for entry in self._containers_dir.glob("*/*"):
            try:
                pid, started, name = entry.read_text().split()
            except (OSError, ValueError):
                continue
            found[f"{entry.parent.name}/{name}"] = ProcessId(int(pid), int(started))
        return dict(sorted(found.items()))

    def age(self) -> float:
        """Seconds since the directory was made (infinite if it is gone)."""
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return float("inf")

    def remove(self) -> None:
        """The container files first: while the run directory is there, `cnm clean`
        knows the lab and removes them."""
        if self.path.parent == RUN_ROOT:
            shutil.rmtree(FILES_ROOT / self.name, ignore_errors=True)
        release_leftovers(self.path / "netns")  # sandbox keys a killed lab left mounted
        shutil.rmtree(self.path, ignore_errors=True)


def all_run_dirs(root: Path | None = None) -> list[RunDir]:
    base = root or RUN_ROOT
    if not base.exists():
        return []
    return [RunDir(p.name, base) for p in sorted(base.iterdir()) if p.is_dir()]
