"""The background process behind `cnm lab up`: it owns one lab until told to stop.

Started detached by the CLI, it builds the lab and reports `ready` (or the error)
on a pipe the CLI waits on, then runs until SIGTERM, SIGINT or SIGHUP and removes
the lab. Until it has reported ready, the lab removes itself at once when it is
told to stop, or when its starter goes away (the CLI's end of the pipe closes:
Ctrl-C, a kill), so that an interrupted `cnm lab up` leaves nothing. From the
moment it owns the lab's run directory, its output and log records go to the
lab's log file there (`cnm lab logs`).
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
import threading

from emulator import faults
from emulator.lab.lab import Lab, LabError
from emulator.lab.logfile import send_output_to
from emulator.lab.state import RunDir
from emulator.topology import default_topology, read_topology

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
INTERRUPT = signal.SIGUSR1  # how the supervisor stops a build in the main thread
STARTER_GONE = "its starter went away"

log = logging.getLogger("emulator.lab")


class StopRequested(BaseException):
    """Raised in the main thread when the lab must stop before it is ready."""


class Supervisor:
    """What tells the lab to stop: a stop signal, or (before ready) its starter leaving.

    Stop signals are not blocked (the lab's processes would inherit the mask) but
    taken by one thread through the signal wakeup fd, so that none is deferred
    whichever thread the kernel picks. While the lab is being built, a stop
    interrupts the main thread (SIGUSR1, whose handler raises StopRequested)
    wherever it is; once the lab is ready, `stopping` is set. Every stop signal
    also releases the fault-injection steps waiting at that moment.
    """

    def __init__(self, ready_fd: int) -> None:
        self.ready_fd = ready_fd
        self.lab: Lab | None = None
        self.reason: str | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._building = True
        self._interrupted = False
        self._main = threading.main_thread().ident
        self._signals_r, signals_w = os.pipe()
        os.set_blocking(signals_w, False)
        self._wake_r, self._wake_w = os.pipe()
        for sig in STOP_SIGNALS:
            signal.signal(sig, _taken_by_the_supervisor)
        signal.signal(INTERRUPT, self._interrupt)
        signal.set_wakeup_fd(signals_w, warn_on_full_buffer=False)
        threading.Thread(target=self._take_signals, name="stop-signals", daemon=True).start()
        self._watcher = threading.Thread(target=self._watch_starter, name="starter",
                                         daemon=True)
        self._watcher.start()

    def request_stop(self, reason: str) -> None:
        faults.release()  # before `stopping` is set: a teardown step reached later waits
        with self._lock:
            if self.reason is None:
                self.reason = reason
                if self._building:
                    assert self._main is not None
                    signal.pthread_kill(self._main, INTERRUPT)
            self.stopping.set()

    def _interrupt(self, signum: int, frame: object) -> None:
        if self.lab is not None and self.lab.stopping:
            return  # a failed build is being removed already: let it finish
        if self._building and not self._interrupted:
            self._interrupted = True
            raise StopRequested(self.reason)

    def _take_signals(self) -> None:
        while True:
            for signum in os.read(self._signals_r, 64):
                if signum in STOP_SIGNALS:
                    name = signal.Signals(signum).name
                    log.info("%s received", name)
                    self.request_stop(f"stopped by {name}")

    def _watch_starter(self) -> None:
        """The CLI holds the pipe's only read end: when it closes, our end reports POLLERR."""
        poller = select.poll()
        poller.register(self.ready_fd, 0)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            events = dict(poller.poll())
            if self._wake_r in events:
                return
            if self.ready_fd in events:
                log.info("the process that started the lab went away before it was ready")
                self.request_stop(STARTER_GONE)
                return

    def _stop_watching(self) -> None:
        if self._wake_w < 0:
            return
        os.write(self._wake_w, b"\n")
        self._watcher.join()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_w = -1

    def ready(self) -> None:
        """Stop watching the starter; raise StopRequested if a stop came first."""
        self._stop_watching()
        with self._lock:
            if self.reason is None:
                self._building = False
                return
            self._interrupted = True  # a SIGUSR1 still on its way must not raise again
        raise StopRequested(self.reason)

    def building_failed(self) -> None:
        """No more interrupts: the main thread removes what was built."""
        with self._lock:
            self._building = False
        self._stop_watching()


def _taken_by_the_supervisor(signum: int, frame: object) -> None:
    """Python's handler does nothing: its C half wrote the signal to the wakeup fd."""


def _report(fd: int, line: str) -> None:
    """Tell the starter; if it is gone there is no one to tell."""
    try:
        os.write(fd, line.encode())
    except BrokenPipeError:
        pass


def _failure(exc: BaseException, name: str) -> str:
    if isinstance(exc, StopRequested):
        return f"lab {name} was {exc.args[0]} before it was ready; nothing of it is left"
    return str(exc) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cnm-lab-daemon")
    parser.add_argument("--topology")
    parser.add_argument("--name")
    parser.add_argument("--engine")
    parser.add_argument("--ready-fd", type=int, required=True)
    args = parser.parse_args(argv)
    os.set_inheritable(args.ready_fd, False)  # or every container would hold the CLI's pipe
    supervisor = Supervisor(args.ready_fd)
    lab: Lab | None = None
    try:
        topology = read_topology(args.topology) if args.topology else default_topology()
        lab = supervisor.lab = Lab(topology, args.name, engine=args.engine)
        lab.start(claimed=_claimed)
        faults.step("lab.ready")
        supervisor.ready()
        os.write(args.ready_fd, f"ready {lab.name}\n".encode())
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the waiting CLI
        supervisor.building_failed()
        message = _failure(exc, lab.name if lab else args.name)
        if lab is not None:
            try:
                lab.stop()  # after a failed Lab.start: nothing to do; after a good one: all
            except LabError as cleanup:
                message = str(cleanup)
        _report(args.ready_fd, f"error: {message}\n")
        return 1
    finally:
        os.close(args.ready_fd)
    log.info("lab %s is ready", lab.name)
    supervisor.stopping.wait()
    log.info("removing lab %s (%s)", lab.name, supervisor.reason)
    lab.stop()
    return 0


def _claimed(run_dir: RunDir) -> None:
    send_output_to(run_dir.log_file)
    log.info("building lab %s in process %d", run_dir.name, os.getpid())


if __name__ == "__main__":
    sys.exit(main())
