"""Named points where a test can stop the emulator dead: fault injection without sleeps.

`step(name)` is called at the moments a kill would hurt most (bring-up, network
create, container start, swarm join, teardown). It does nothing unless
CNM_FAULT_STEP names that step. Then it logs that it was reached, writes
"<name> <pid>" as one line to the file (a FIFO, usually) CNM_FAULT_REPORT names,
and blocks, so that a test can kill the CLI or the lab process at exactly that
point. The step ends when a signal handler raises in its thread, or when the
process is told to stop and calls `release()` (which frees the steps waiting
then, not those reached later: a lab stopping may still stop at a teardown step).
A dry run through the engine (the topology check) runs with steps `suppressed()`.

Everything imports this module, so it imports nothing of the project.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STEP_ENV = "CNM_FAULT_STEP"
REPORT_ENV = "CNM_FAULT_REPORT"

_log = logging.getLogger("emulator.faults")
_released = threading.Condition()
_generation = 0
_local = threading.local()


def step(name: str) -> None:
    """Stop here if CNM_FAULT_STEP names this step (see the module's docstring)."""
    if os.environ.get(STEP_ENV) != name or getattr(_local, "suppressed", False):
        return
    with _released:
        generation = _generation
    _log.warning("fault step %s reached in process %d", name, os.getpid())
    report = os.environ.get(REPORT_ENV)
    if report:
        fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.write(fd, f"{name} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
    with _released:
        while _generation == generation:
            _released.wait()


@contextmanager
def suppressed() -> Iterator[None]:
    """No step stops the calling thread meanwhile (a dry run through the engine)."""
    before = getattr(_local, "suppressed", False)
    _local.suppressed = True
    try:
        yield
    finally:
        _local.suppressed = before


def release() -> None:
    """Let every step that is waiting now go on (the process was told to stop)."""
    global _generation
    with _released:
        _generation += 1
        _released.notify_all()
