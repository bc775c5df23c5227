"""What dockerd does to a running container besides starting and ending it: pause and
unpause (the freezer), rename, prune, and the figures of `docker stats` and `top`.

One `ContainerOps` per engine (`engine.lifecycle.ops`). The kernel parts are given
(`ProcessTable`), so the rules (dockerd's checks, texts and events) are tested on a
fake engine without a kernel.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from emulator import errdefs as err
from emulator.cnm.containers import CONTAINER_NAME
from emulator.cnm.filters import check_filter_keys, labels_match
from emulator.cnm.model import Container
from emulator.fabric import containerprocs
from emulator.ids import docker_time_ns

if TYPE_CHECKING:
    from emulator.cnm.engine import Engine
    from emulator.cnm.state import HostState

PRUNE_FILTERS = ("label", "label!", "until")


class ProcessTable(Protocol):
    """The kernel's side: a container's processes, their use, freezing them."""

    def pids(self, pid1: int) -> list[int]: ...
    def sample(self, pid1: int, pids: list[int]) -> Sample: ...
    def freeze(self, cid: str, pid1: int) -> None: ...
    def thaw(self, cid: str) -> None: ...
    def ps(self, args: list[str]) -> str: ...
    def signal(self, pid1: int, number: int) -> None: ...


@dataclass(frozen=True)
class Sample:
    """One reading of a container's use, as dockerd's stats collector takes it."""

    time_ns: int
    cpu_user_ns: int
    cpu_system_ns: int
    system_cpu_ns: int
    online_cpus: int
    memory: int
    memory_limit: int
    pids: int
    networks: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


class KernelProcesses:
    """The ProcessTable of the real kernel; `cgroup_parent` names the freezer cgroups'
    parent (the lab's, so `cnm clean` finds them)."""

    def __init__(self, cgroup_parent: str | None = None) -> None:
        self.cgroup_parent = cgroup_parent
        self._freezer: containerprocs.Freezer | None = None

    def pids(self, pid1: int) -> list[int]:
        return containerprocs.container_pids(pid1)

    def sample(self, pid1: int, pids: list[int]) -> Sample:
        cpu = containerprocs.cpu_times(pids)
        return Sample(time.time_ns(), cpu.user_ns, cpu.system_ns,
                      containerprocs.system_cpu_ns(), containerprocs.online_cpus(),
                      containerprocs.resident_bytes(pids), containerprocs.memory_total(),
                      len(pids), containerprocs.interface_counters(pid1))

    def _frozen(self) -> containerprocs.Freezer:
        if self.cgroup_parent is None:
            raise err.NotImplementedByEmulator("pause needs a lab: the emulated host has no "
                                               "cgroup to freeze its containers in")
        if self._freezer is None:
            self._freezer = containerprocs.Freezer(self.cgroup_parent)
        return self._freezer

    def freeze(self, cid: str, pid1: int) -> None:
        self._frozen().freeze(cid, pid1)

    def thaw(self, cid: str) -> None:
        if self._freezer is not None:
            self._freezer.thaw(cid)

    def signal(self, pid1: int, number: int) -> None:
        containerprocs.send_signal(pid1, number)

    def ps(self, args: list[str]) -> str:
        done = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            first = done.stderr.splitlines()[0] if done.stderr.strip() else \
                f"exit status {done.returncode}"
            raise err.DockerError(f"ps: {first}")
        return done.stdout


# dockerd's validatePSArgs: only `pid` may be given as a column named PID...
PS_ARGS_PID = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")


def parse_ps(output: str, pids: list[int]) -> dict[str, list]:
    """dockerd's parsePSOutput: the titles and the rows of the container's processes;
    a row whose PID is `-` (a thread) goes with the process row above it."""
    lines = output.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise err.DockerError("Couldn't find PID field in ps output")
    index = titles.index("PID")
    wanted = set(pids)
    rows: list[list[str]] = []
    last_was_ours = False
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        row = fields[:len(titles) - 1] + [" ".join(fields[len(titles) - 1:])]
        if fields[index] == "-":
            if last_was_ours:
                rows.append(row)
            continue
        try:
            pid = int(fields[index])
        except ValueError:
            raise err.DockerError(f"Unexpected pid '{fields[index]}': strconv.Atoi: parsing "
                                  f'"{fields[index]}": invalid syntax') from None
        last_was_ours = pid in wanted
        if last_was_ours:
            rows.append(row)
    return {"Titles": titles, "Processes": rows}


class ContainerOps:
    def __init__(self, engine: Engine, processes: ProcessTable | None = None) -> None:
        self._engine = engine
        self.processes: ProcessTable = processes or KernelProcesses()
        self._lock = threading.Lock()

    # -- pause ---------------------------------------------------------------------

    def pause(self, ref: str) -> None:
        engine = self._engine
        engine.reap_exited()
        container = engine.get_container(ref)
        with self._lock:
            if not container.running or not container.pid:
                raise err.Conflict(f"container {container.id} is not running")
            if container.paused:
                raise err.Conflict(f"Container {container.id} is already paused")
            try:
                self.processes.freeze(container.id, container.pid)
            except OSError as exc:
                raise err.DockerError(f"cannot pause container {container.id}: {exc}") from None
            engine.set_paused(container.id, True)
        engine.events.container(container, "pause")

    def unpause(self, ref: str) -> None:
        engine = self._engine
        container = engine.get_container(ref)
        with self._lock:
            if not container.paused:
                raise err.DockerError(f"Container {container.id} is not paused")
            if not container.running:
                raise err.Conflict(f"container {container.id} is not running")
            try:
                self.processes.thaw(container.id)
            except OSError as exc:
                raise err.DockerError(f"Cannot unpause container {container.id}: "
                                      f"{exc}") from None
            engine.set_paused(container.id, False)
        engine.events.container(container, "unpause")

    def thaw(self, cids: list[str]) -> None:
        """Before these containers end: a paused one is thawed (its processes must run
        to receive a signal and end), as dockerd's kill unpauses."""
        engine = self._engine
        for cid in cids:
            container = engine.view().containers.get(cid)
            if container is None or not container.paused:
                continue
            with self._lock:
                self.processes.thaw(cid)
                engine.set_paused(cid, False)

    # -- top and stats ------------------------------------------------------------

    def running(self, ref: str) -> Container:
        engine = self._engine
        engine.reap_exited()
        container = engine.get_container(ref)
        if not container.running or not container.pid:
            raise err.Conflict(f"container {container.id} is not running")
        return container

    def top(self, ref: str, ps_args: str = "") -> dict[str, list]:
        """dockerd's ContainerTop: `ps ARGS` on the host, the container's rows kept."""
        ps_args = ps_args or "-ef"
        for key, value in PS_ARGS_PID.findall(ps_args):
            if key != "pid":
                raise err.DockerError(f'specifying "{key}={value}" is not allowed')
        container = self.running(ref)
        pids = self.processes.pids(container.pid)
        args = ps_args.split(" ")
        try:
            output = self.processes.ps([*args, "-q" + ",".join(map(str, pids))])
        except err.DockerError:
            output = self.processes.ps(args)
        listed = parse_ps(output, pids)
        self._engine.events.container(container, "top")
        return listed

    def sample(self, container: Container) -> Sample | None:
        """One reading of the container's use; None if it is not running."""
        if not container.running or not container.pid:
            return None
        pids = self.processes.pids(container.pid)
        sample = self.processes.sample(container.pid, pids)
        if container.sandbox is not None and container.sandbox.shares_host:
            sample = replace(sample, networks={})  # the host's interfaces are not its own
        return sample

    # -- rename and prune ---------------------------------------------------------------

    def rename(self, ref: str, new_name: str) -> None:
        """`docker rename`: dockerd's checks and texts; the container's DNS names on its
        user-defined networks follow the new name, and a rename event is published."""
        if not ref or not new_name:
            raise err.InvalidParameter("Neither old nor new names may be empty")
        engine = self._engine
        container = engine.get_container(ref)
        canonical = new_name if new_name.startswith("/") else "/" + new_name
        if canonical == "/" + container.name:
            raise err.InvalidParameter("Renaming a container with the same name as its "
                                       "current name")
        if not CONTAINER_NAME.fullmatch(canonical[1:]):
            raise err.InvalidParameter(f"Error when allocating new name: Invalid container "
                                       f"name ({canonical}), only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                                       "are allowed")
        old = engine.rename_container(container.id, canonical[1:])
        engine.events.container(engine.get_container(container.id), "rename",
                                oldName="/" + old)

    def prune(self, filters: Mapping[str, list[str]]) -> list[str]:
        """`docker container prune`: every container not running, older than `until`
        and matching the labels; their IDs."""
        check_filter_keys(filters, PRUNE_FILTERS)
        until = prune_until(filters)
        engine = self._engine
        engine.reap_exited()
        doomed = []
        for container in engine.list_containers(all=True):
            if container.running:
                continue
            created = docker_time_ns(container.created)
            if until is not None and created is not None and created > until:
                continue
            if not labels_match(container.labels, filters.get("label", [])):
                continue
            if any(labels_match(container.labels, [v]) for v in filters.get("label!", [])):
                continue
            doomed.append(container.id)
        removed = []
        for cid in doomed:
            try:
                engine.remove_container(cid)
            except err.DockerError:
                continue
            removed.append(cid)
        engine.events.publish("container", "prune", "", {"reclaimed": "0"})
        return removed


DURATION = re.compile(r"^([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration (`10m`, `1h30m`, `1.5s`); None if it is not one."""
    rest, total, sign = text, 0.0, 1.0
    if rest[:1] in "+-" and rest:
        sign, rest = (-1.0 if rest[0] == "-" else 1.0), rest[1:]
    if not rest:
        return None
    while rest:
        found = DURATION.match(rest)
        if found is None:
            return None
        total += float(found.group(1)) * UNITS[found.group(2)]
        rest = rest[found.end():]
    return sign * total


def timestamp_ns(value: str, now: Callable[[], float] = time.time) -> int:
    """dockerd's GetTimestamp then ParseTimestamps: a Go duration before now, an RFC 3339
    time (or date), or unix `SECONDS[.NANOS]` -> nanoseconds since the epoch."""
    seconds = go_duration(value) if value != "0" else None
    if seconds is not None:
        return int(now() - seconds) * 1_000_000_000
    if "-" in value:
        try:
            return rfc3339_ns(value)
        except ValueError:
            raise err.InvalidParameter(f'parsing time "{value}": cannot parse as '
                                       "RFC 3339") from None
    whole, dot, fraction = value.partition(".")
    if not whole.isdigit() or (dot and not fraction.isdigit()):
        raise err.InvalidParameter(f'failed to parse value as time or duration: "{value}"')
    return int(whole) * 1_000_000_000 + (int(fraction.ljust(9, "0")[:9]) if dot else 0)


def rfc3339_ns(value: str) -> int:
    """An RFC 3339 time or date as the docker CLI accepts it (no zone: local time)."""
    text = value.replace("z", "Z")
    main, dot, rest = text.partition(".")
    nanos = 0
    if dot:
        digits = re.match(r"[0-9]*", rest).group(0)  # type: ignore[union-attr]
        nanos = int(digits.ljust(9, "0")[:9]) if digits else 0
        text = main + rest[len(digits):]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return int(parsed.timestamp()) * 1_000_000_000 + nanos


def prune_until(filters: Mapping[str, list[str]]) -> int | None:
    values = filters.get("until", [])
    if len(values) > 1:
        raise err.InvalidParameter("more than one until filter specified")
    return timestamp_ns(values[0]) if values else None


def renamed(container: Container, state: HostState, new_name: str) -> str:
    """Give the container (live state, engine lock held) its new name; the old one.
    Its endpoints named after it are replaced by renamed copies, so the published
    view sees their networks change and the DNS answers the new name."""
    for other in state.containers.values():
        if other.name == new_name and other.id != container.id:
            raise err.Conflict(
                f'Error when allocating new name: Conflict. The container name "/{new_name}" '
                f'is already in use by container "{other.id}". You have to remove (or '
                "rename) that container to be able to reuse that name.")
    old = container.name
    container.name = new_name
    for net_id, ep in list(container.endpoints.items()):
        if ep.name != old:
            continue
        copy = replace(ep, name=new_name)
        container.endpoints[net_id] = copy
        network = state.networks.get(net_id)
        if network is not None and ep.id in network.endpoints:
            network.endpoints[ep.id] = copy
    return old
