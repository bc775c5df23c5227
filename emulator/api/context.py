"""What the Engine API's handlers act on: one emulated Docker host.

Its engine does the work (`engine.lifecycle` keeps start events, waits and
logs). Exec instances are the one state the API keeps itself: one request
creates an exec instance, the next starts it by its ID, a third inspects it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from emulator import errdefs as err
from emulator.cnm.engine import Engine


@dataclass
class ExecInstance:
    id: str
    container_id: str
    argv: list[str]
    tty: bool
    attach_stdin: bool
    env: list[str] = field(default_factory=list)
    attach_stdout: bool = True
    attach_stderr: bool = True
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    user: str = ""
    workdir: str = ""
    privileged: bool = False
    console_size: tuple[int, int] | None = None
    """(rows, columns) of its TTY at start."""
    master: int | None = None
    """The master side of its TTY while it runs (for /exec/{id}/resize)."""


class ExecRegistry:
    def __init__(self) -> None:
        self._items: dict[str, ExecInstance] = {}
        self._lock = threading.Lock()

    def add(self, item: ExecInstance) -> None:
        with self._lock:
            self._items[item.id] = item

    def get(self, exec_id: str) -> ExecInstance:
        with self._lock:
            item = self._items.get(exec_id)
        if item is None:
            raise err.NotFound(f"No such exec instance: {exec_id}")
        return item


@dataclass
class HostContext:
    engine: Engine
    execs: ExecRegistry = field(default_factory=ExecRegistry)
