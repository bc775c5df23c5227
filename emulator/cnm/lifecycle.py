"""What dockerd keeps around a container's life besides its networks.

The engine creates, starts, stops and removes containers. Clients also wait on
them: `docker run` waits for its container to start, then for it to end, and
takes its exit code; `--rm` removes it once it has ended; an attached run reads
its output from its start. This module keeps those: a start event per
container, dockerd's wait conditions, exit codes of stop and kill, auto-remove
wishes, and a container's log file and output FIFOs. The Engine API and the
Python API share one instance per engine, `engine.lifecycle`.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from emulator import errdefs as err
from emulator.cnm.consoles import Console
from emulator.cnm.etcfiles import DnsConfig
from emulator.cnm.model import Container
from emulator.cnm.runtimespec import RuntimeSpec
from emulator.drivers.portmapping import PortOptions

if TYPE_CHECKING:
    from emulator.cnm.endpoints import AttachRequest
    from emulator.cnm.engine import Engine

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero time: StartedAt and FinishedAt of a container that never ran."""
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
KILLED, NOT_STARTED = 137, 127


def never_started(container: Container) -> bool:
    return not container.running and container.started_at == ZERO_TIME


def process_fd(pid: int) -> int | None:
    """A pidfd of process `pid` (readable once it ends), or None if it is gone."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def wait_process_end(pid: int) -> None:
    """Return once process `pid` has ended; at once if it already has."""
    pidfd = process_fd(pid)
    if pidfd is None:
        return
    try:
        select.select([pidfd], [], [])
    finally:
        os.close(pidfd)


@dataclass
class CapturedOutput:
    """A created container's output from its coming start: the read ends of the
    FIFOs its stdout and stderr will write to, and its log, for what is read."""

    stdout: int
    stderr: int
    fds: tuple[int, ...]
    fifos: tuple[Path, Path]
    log: IO[bytes]

    def record(self, data: bytes) -> None:
        """Append output to the container's log, so that `docker logs` has it too."""
        self.log.write(data)
        self.log.flush()

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        for fifo in self.fifos:
            fifo.unlink(missing_ok=True)
        self.log.close()


class ContainerLifecycle:
    """Start events, waits, exit codes, auto-remove and output of one engine's containers.

    `log_dir` holds the containers' logs (`<id>.log`, as the fabric writes them)
    and the FIFOs of attached runs; without it there are no logs to read or
    attach to. `process_end(pid)` returns once a container's process has ended.
    """

    def __init__(self, engine: Engine, log_dir: Path | None = None,
                 process_end: Callable[[int], None] = wait_process_end) -> None:
        self._engine = engine
        self.log_dir = log_dir
        self._process_end = process_end
        self._started: dict[str, threading.Event] = {}
        self._auto_remove: set[str] = set()
        self._consoles: dict[str, Console] = {}
        self._lock = threading.Lock()

    def started(self, cid: str) -> threading.Event:
        """Set once the container has been started (or failed to, or was removed)."""
        with self._lock:
            return self._started.setdefault(cid, threading.Event())

    def create(self, name: str | None, networks: Iterable[AttachRequest],
               hostname: str | None = None, command: list[str] | None = None, *,
               image: str = "", labels: Mapping[str, str] | None = None,
               env: list[str] | None = None, auto_remove: bool = False,
               ports: PortOptions | None = None,
               dns: DnsConfig | None = None,
               runtime: RuntimeSpec | None = None) -> Container:
        """`docker create`; with `auto_remove` (`--rm`) it is removed once it has ended."""
        container = self._engine.create_container(name, list(networks), hostname, command,
                                                  image=image, labels=labels, env=env,
                                                  ports=ports, dns=dns, runtime=runtime)
        if auto_remove:
            self.remove_when_ended(container.id)
        if container.runtime.tty or container.runtime.open_stdin:
            with self._lock:
                self._consoles[container.id] = Console(container.runtime.tty,
                                                       self.log_path(container.id))
        return container

    def console(self, cid: str) -> Console | None:
        """The terminal or stdin of a container created with `-t` or `-i`."""
        with self._lock:
            return self._consoles.get(cid)

    def _start(self, cid: str) -> None:
        """Start the container, handing its terminal or stdin to its console."""
        container = self._engine.start_container(cid)
        console = self.console(cid)
        sandbox = container.sandbox
        if sandbox is None:
            return
        master, stdin = sandbox.console, sandbox.stdin
        sandbox.console = sandbox.stdin = None
        if console is not None:
            console.begin(master, stdin)
        else:
            for fd in (master, stdin):
                if fd is not None:
                    os.close(fd)

    def remove_when_ended(self, cid: str) -> None:
        with self._lock:
            self._auto_remove.add(cid)

    def start(self, ref: str) -> bool:
        """`docker start`; False if it was running already. A container that fails
        to start has exit code 127, and is removed if it should be."""
        engine = self._engine
        engine.reap_exited()
        container = engine.get_container(ref)
        if container.running:
            return False
        try:
            self._start(container.id)
        except Exception:
            engine.record_exit_code(container.id, NOT_STARTED)
            self.started(container.id).set()  # waiters and attachers must not hang
            self._remove_if_wished(container.id)
            raise
        self.started(container.id).set()
        return True

    def stop(self, ref: str) -> bool:
        """`docker stop`; False if it was not running."""
        engine = self._engine
        engine.reap_exited()
        container = engine.get_container(ref)
        if not container.running:
            return False
        engine.stop_container(container.id)
        self._remove_if_wished(container.id)
        return True

    def kill(self, ref: str) -> None:
        engine = self._engine
        container = engine.get_container(ref)
        if not container.running:
            raise err.Conflict(f"cannot kill container: {container.name}: container "
                               f"{container.id} is not running")
        engine.stop_container(container.id)
        engine.record_exit_code(container.id, KILLED)
        self._remove_if_wished(container.id)

    def restart(self, ref: str) -> None:
        engine = self._engine
        container = engine.get_container(ref)
        if container.running:
            engine.stop_container(container.id)
        self._start(container.id)
        self.started(container.id).set()

    def remove(self, ref: str, force: bool = False) -> None:
        cid = self._engine.get_container(ref).id
        self._engine.remove_container(cid, force=force)

    def wait(self, cid: str, condition: str = "not-running") -> int:
        """dockerd's wait: the exit code once the container is not running.
        `not-running` answers at once for a container that is not running;
        `next-exit` and `removed` wait for a never-started one to start (or go)
        first. A container to be removed when ended is removed then."""
        code = self._exit_code(cid, condition)
        self._remove_if_wished(cid)
        return code

    def _exit_code(self, cid: str, condition: str) -> int:
        # The published view, never the live state: a start in progress on another
        # thread shows there as running before its process (and pid) exists.
        engine = self._engine
        container = engine.view().containers.get(cid)
        if container is None:
            return 0
        if never_started(container) and condition in ("next-exit", "removed"):
            self.started(cid).wait()
            container = engine.view().containers.get(cid)
            if container is None:
                return 0
        if container.running and container.pid:
            self._process_end(container.pid)
        engine.reap_exited()
        ended = engine.view().containers.get(cid)
        return ended.exit_code if ended is not None else 0

    def _remove_if_wished(self, cid: str) -> None:
        with self._lock:
            wished = cid in self._auto_remove
            self._auto_remove.discard(cid)
        if wished and cid in self._engine.view().containers:
            self._engine.remove_container(cid, force=True)

    # -- output ----------------------------------------------------------------

    def log_path(self, cid: str) -> Path | None:
        return self.log_dir / f"{cid}.log" if self.log_dir else None

    def forget(self, cid: str) -> None:
        """The container is gone (the engine removed it, by any path): its waiters are
        done, and its log goes with it, as dockerd's does."""
        self.started(cid).set()
        with self._lock:
            console = self._consoles.pop(cid, None)
        if console is not None:
            console.end()
        path = self.log_path(cid)
        if path is not None:
            path.unlink(missing_ok=True)

    def logs(self, cid: str) -> bytes:
        """What the container wrote, all runs so far."""
        path = self.log_path(cid)
        return path.read_bytes() if path and path.exists() else b""

    def capture_output(self, ref: str) -> CapturedOutput:
        """Route the output of a created container's coming start to FIFOs read here
        (`docker run` attached), instead of to its log. Close it when done."""
        container = self._engine.get_container(ref)
        if self.log_dir is None:
            raise err.NotImplementedByEmulator("attach needs a log directory")
        if container.running:
            raise err.NotImplementedByEmulator("attaching to a running container is not "
                                               "supported by the emulator yet")
        cid = container.id
        fifos = (self.log_dir / f"{cid}.out", self.log_dir / f"{cid}.err")
        opened: list[int] = []
        try:
            for fifo in fifos:
                fifo.unlink(missing_ok=True)
                os.mkfifo(fifo, 0o600)
                opened.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
                opened.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # no EOF before start
            log = open(self.log_dir / f"{cid}.log", "ab")
        except BaseException:
            for fd in opened:
                os.close(fd)
            for fifo in fifos:
                fifo.unlink(missing_ok=True)
            raise
        self._engine.fabric.output_fifos[cid] = fifos  # type: ignore[attr-defined]
        return CapturedOutput(opened[0], opened[2], tuple(opened), fifos, log)

    def process_fd(self, cid: str) -> int | None:
        """A pidfd of the container's process, or None if it is not running."""
        container = self._engine.view().containers.get(cid)
        if container is None or not container.running or not container.pid:
            return None
        return process_fd(container.pid)
