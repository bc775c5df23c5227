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

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emulator import errdefs as err
from emulator.cnm.consoles import Console
from emulator.cnm.containerlogs import STDERR, STDOUT, LogRecord, LogStore, OutputCollector
from emulator.cnm.containerops import ContainerOps, ProcessTable
from emulator.cnm.etcfiles import DnsConfig
from emulator.cnm.model import Container
from emulator.cnm.runtimespec import RuntimeSpec
from emulator.drivers.portmapping import PortOptions
from emulator.fabric import readiness
from emulator.ids import docker_time_ns

if TYPE_CHECKING:
    from emulator.cnm.endpoints import AttachRequest
    from emulator.cnm.engine import Engine

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero time: StartedAt and FinishedAt of a container that never ran."""
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
KILLED, NOT_STARTED = 137, 127
_log = logging.getLogger("emulator.cnm")


def parse_signal(raw: str, ref: str) -> int:
    """moby's signal.ParseSignal: a number, or a name with or without SIG."""
    try:
        number = int(raw)
    except ValueError:
        name = raw.upper().removeprefix("SIG")
        try:
            return int(signal.Signals["SIG" + name])
        except KeyError:
            pass
    else:
        if number > 0 and number in {int(s) for s in signal.Signals}:
            return number
        if number > 0:
            raise err.InvalidParameter(f"cannot kill container: {ref}: the linux daemon does "
                                       f"not support signal {number}")
    raise err.InvalidParameter(f"cannot kill container: {ref}: invalid signal: {raw}")


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
        readiness.readable(pidfd)
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
    log: LogStore
    cid: str

    def record(self, data: bytes, stream: int = STDOUT) -> None:
        """Append output to the container's log, so that `docker logs` has it too."""
        self.log.append(self.cid, stream, data)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        for fifo in self.fifos:
            fifo.unlink(missing_ok=True)
        self.log.end(self.cid)


def output_fifos(log_dir: Path, cid: str) -> tuple[Path, Path]:
    """Where a container's process writes its stdout and stderr for one start."""
    return log_dir / f"{cid}.out", log_dir / f"{cid}.err"


def make_fifos(fifos: tuple[Path, Path]) -> list[int]:
    """Each FIFO made afresh and opened: its read end, then a write end (held so that
    the reader sees no end of file before the container's process opens its own)."""
    opened: list[int] = []
    try:
        for fifo in fifos:
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo, 0o600)
            opened.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
            opened.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    except BaseException:
        for fd in opened:
            os.close(fd)
        for fifo in fifos:
            fifo.unlink(missing_ok=True)
        raise
    return opened


class ContainerLifecycle:
    """Start events, waits, exit codes, auto-remove and output of one engine's containers.

    `log_dir` holds the containers' logs (`<id>.log`, as the fabric writes them)
    and the FIFOs of attached runs; without it there are no logs to read or
    attach to. `process_end(pid)` returns once a container's process has ended.
    """

    def __init__(self, engine: Engine, log_dir: Path | None = None,
                 process_end: Callable[[int], None] = wait_process_end,
                 processes: ProcessTable | None = None) -> None:
        self._engine = engine
        self._process_end = process_end
        self._started: dict[str, threading.Event] = {}
        self._auto_remove: set[str] = set()
        self._removed_codes: dict[str, int] = {}
        """Exit codes of containers removed once ended (`--rm`), for their waiters."""
        self._consoles: dict[str, Console] = {}
        self._lock = threading.Lock()
        self._store: LogStore | None = None
        self._collector: OutputCollector | None = None
        self.log_dir = log_dir
        self.ops = ContainerOps(engine, processes)
        """pause, unpause, rename, prune, top and stats (cnm/containerops.py)."""

    @property
    def log_dir(self) -> Path | None:
        return self._store.log_dir if self._store is not None else None

    @log_dir.setter
    def log_dir(self, path: Path | None) -> None:
        if self._collector is not None:
            self._collector.close()
            self._collector = None
        self._store = LogStore(path) if path is not None else None

    @property
    def log_store(self) -> LogStore | None:
        return self._store

    def close(self) -> None:
        """The engine is closing: the log collector stops (its logs are complete)."""
        if self._collector is not None:
            self._collector.close()
            self._collector = None

    def started(self, cid: str) -> threading.Event:
        """Set once the container has been started (or failed to, or was removed)."""
        with self._lock:
            return self._started.setdefault(cid, threading.Event())

    def create(self, name: str | None, networks: Iterable[AttachRequest],
               hostname: str | None = None, command: list[str] | None = None, *,
               image: str = "", labels: Mapping[str, str] | None = None,
               env: list[str] | None = None, auto_remove: bool = False,
               ports: PortOptions | None = None,
               dns: DnsConfig | None = None, links: Iterable[str] = (),
               sysctls: Mapping[str, str] | None = None,
               runtime: RuntimeSpec | None = None) -> Container:
        """`docker create`; with `auto_remove` (`--rm`) it is removed once it has ended;
        `links` are --link's NAME[:ALIAS], `sysctls` --sysctl's net.* settings."""
        container = self._engine.create_container(name, list(networks), hostname, command,
                                                  image=image, labels=labels, env=env,
                                                  ports=ports, dns=dns, links=links,
                                                  sysctls=sysctls, runtime=runtime)
        if auto_remove:
            self.remove_when_ended(container.id)
        if container.runtime.tty or container.runtime.open_stdin:
            with self._lock:
                raw_log = self._store.raw_path(container.id) if self._store else None
                self._consoles[container.id] = Console(container.runtime.tty, raw_log)
        return container

    def console(self, cid: str) -> Console | None:
        """The terminal or stdin of a container created with `-t` or `-i`."""
        with self._lock:
            return self._consoles.get(cid)

    def _start(self, cid: str) -> None:
        """Start the container, handing its terminal or stdin to its console; output
        that is not a terminal's goes to the log collector (`_start_logged`)."""
        console = self.console(cid)
        if console is not None and console.tty:
            container = self._engine.start_container(cid)
        else:
            self._start_logged(cid)
            container = self._engine.get_container(cid)
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

    def _start_logged(self, cid: str) -> None:
        """Start the container with its output going to the log collector, unless
        something else (an attached run) already takes it."""
        engine = self._engine
        fifos_wanted = getattr(engine.fabric, "output_fifos", None)
        store = self._store
        if store is None or fifos_wanted is None or cid in fifos_wanted:
            engine.start_container(cid)
            return
        fifos = output_fifos(store.log_dir, cid)
        opened = make_fifos(fifos)
        fifos_wanted[cid] = fifos
        store.begin(cid)
        try:
            engine.start_container(cid)
        except BaseException:
            fifos_wanted.pop(cid, None)
            for fd in opened:
                os.close(fd)
            store.end(cid)
            raise
        finally:
            for fifo in fifos:
                fifo.unlink(missing_ok=True)
        os.close(opened[1])  # the container's process holds the write ends now
        os.close(opened[3])
        self._collect(cid, {opened[0]: STDOUT, opened[2]: STDERR})

    def _collect(self, cid: str, outputs: dict[int, int]) -> None:
        if self._collector is None:
            assert self._store is not None
            self._collector = OutputCollector(self._store, self._run_ended)
        self._collector.watch(cid, outputs, self.process_fd(cid))

    def _run_ended(self, cid: str) -> None:
        """The collector saw a container's process end: dockerd learns it at once, and
        removes it then if it should be (`docker run -d --rm`)."""
        try:
            self._engine.reap_exited()
            container = self._engine.view().containers.get(cid)
            if container is not None and not container.running:
                self._remove_if_wished(cid)
        except Exception:  # noqa: BLE001 - the collector thread must go on
            _log.exception("reaping after container %s ended", cid)

    def stop(self, ref: str) -> bool:
        """`docker stop`; False if it was not running."""
        engine = self._engine
        engine.reap_exited()
        container = engine.get_container(ref)
        if not container.running:
            return False
        engine.events.container(container, "kill", signal="15")
        engine.stop_container(container.id)
        engine.events.container(container, "stop")
        self._remove_if_wished(container.id)
        return True

    def kill(self, ref: str, signal_name: str = "") -> None:
        """`docker kill [-s SIGNAL]`: SIGKILL (the default) ends the container; another
        signal is only sent to its first process, as dockerd's killWithSignal does."""
        engine = self._engine
        number = parse_signal(signal_name, ref) if signal_name else signal.SIGKILL
        container = engine.get_container(ref)
        if not container.running:
            raise err.Conflict(f"cannot kill container: {container.name}: container "
                               f"{container.id} is not running")
        engine.events.container(container, "kill", signal=str(int(number)))
        if number != signal.SIGKILL:
            self.ops.processes.signal(container.pid, number)
            return
        engine.stop_container(container.id, exit_code=KILLED)
        self._remove_if_wished(container.id)

    def restart(self, ref: str) -> None:
        engine = self._engine
        container = engine.get_container(ref)
        if container.running:
            engine.events.container(container, "kill", signal="15")
            engine.stop_container(container.id)
            engine.events.container(container, "stop")
        self._start(container.id)
        self.started(container.id).set()
        engine.events.container(container, "restart")

    def remove(self, ref: str, force: bool = False) -> None:
        container = self._engine.get_container(ref)
        if container.paused and not force:
            raise err.Conflict("container is paused and must be unpaused first")
        if container.running and force:
            self._engine.events.container(container, "kill", signal="9")
            self._engine.record_exit_code(container.id, KILLED)
        self._engine.remove_container(container.id, force=force)

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
            return self._removed_codes.get(cid, 0)
        if never_started(container) and condition in ("next-exit", "removed"):
            self.started(cid).wait()
            container = engine.view().containers.get(cid)
            if container is None:
                return self._removed_codes.get(cid, 0)
        if container.running and container.pid:
            self._process_end(container.pid)
        engine.reap_exited()
        ended = engine.view().containers.get(cid)
        return ended.exit_code if ended is not None else self._removed_codes.get(cid, 0)

    def _remove_if_wished(self, cid: str) -> None:
        with self._lock:
            wished = cid in self._auto_remove
            self._auto_remove.discard(cid)
        container = self._engine.view().containers.get(cid)
        if wished and container is not None:
            with self._lock:
                self._removed_codes[cid] = container.exit_code  # for a wait still to answer
            self._engine.remove_container(cid, force=True)

    # -- output ----------------------------------------------------------------

    def log_path(self, cid: str) -> Path | None:
        """The container's json-file log (`docker inspect`'s LogPath)."""
        return self._store.path(cid) if self._store is not None else None

    def forget(self, cid: str) -> None:
        """The container is gone (the engine removed it, by any path): its waiters are
        done, and its log goes with it, as dockerd's does."""
        self.started(cid).set()
        with self._lock:
            console = self._consoles.pop(cid, None)
        if console is not None:
            console.end()
        if self._store is not None:
            self._store.remove(cid)

    def logs(self, cid: str) -> bytes:
        """What the container wrote, all runs so far, both streams."""
        records = self.log_records(cid)[0]
        return b"".join(r.data for r in records)

    def log_records(self, cid: str, since_ns: int | None = None, until_ns: int | None = None,
                    tail: int | None = None) -> tuple[list[LogRecord], int]:
        """The container's log records and where a follower goes on (containerlogs)."""
        if self._store is None:
            return [], 0
        container = self._engine.view().containers.get(cid)
        raw_time = (docker_time_ns(container.started_at) if container else None) or 0
        return self._store.records(cid, since_ns, until_ns, tail, raw_time)

    def follow_logs(self, cid: str, offset: int,
                    until_ns: int | None = None) -> Iterator[LogRecord | None]:
        """New records of the running container as they come, until its run ends."""
        if self._store is None:
            return iter(())
        return self._store.follow(cid, offset, until_ns)

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
        assert self._store is not None
        fifos = output_fifos(self._store.log_dir, cid)
        opened = make_fifos(fifos)
        self._store.begin(cid)
        self._engine.fabric.output_fifos[cid] = fifos  # type: ignore[attr-defined]
        return CapturedOutput(opened[0], opened[2], tuple(opened), fifos, self._store, cid)

    def process_fd(self, cid: str) -> int | None:
        """A pidfd of the container's process, or None if it is not running."""
        container = self._engine.view().containers.get(cid)
        if container is None or not container.running or not container.pid:
            return None
        return process_fd(container.pid)
