"""Calling Engine API handlers without a socket, and container processes that
end when a test says so (the fake fabric's processes never end by themselves)."""

from __future__ import annotations

import json
import threading
from typing import Any

from emulator.api.context import HostContext
from emulator.api.router import Handler, Request, Response
from emulator.cnm.model import Container
from emulator.fabric.fake import FakeFabric

TIMEOUT_S = 5.0


def call(handler: Handler, host: HostContext, method: str = "GET", body: Any = None,
         query: dict[str, str] | None = None, **params: str) -> Response:
    """`handler` answering one request; path parameters (`id`, ...) as keywords."""
    raw = b"" if body is None else json.dumps(body).encode()
    request = Request(method, "/", {k: [v] for k, v in (query or {}).items()}, {}, raw,
                      params=dict(params))
    response = handler(host, request)
    assert response is not None
    return response


class FakeProcesses:
    """`process_end` for a lifecycle on a FakeFabric: a wait for a container's
    process returns once the test has ended it with `end`."""

    def __init__(self, fabric: FakeFabric) -> None:
        self._fabric = fabric
        self._lock = threading.Lock()
        self._waiting: dict[int, threading.Event] = {}
        self._ended: dict[int, threading.Event] = {}

    def _event(self, events: dict[int, threading.Event], pid: int) -> threading.Event:
        with self._lock:
            return events.setdefault(pid, threading.Event())

    def wait_end(self, pid: int) -> None:
        self._event(self._waiting, pid).set()
        assert self._event(self._ended, pid).wait(TIMEOUT_S), f"process {pid} never ended"

    def awaited(self, container: Container) -> bool:
        """Whether a wait for the container's process has begun (within the timeout)."""
        return self._event(self._waiting, container.pid).wait(TIMEOUT_S)

    def awaited_now(self, container: Container) -> bool:
        return self._event(self._waiting, container.pid).is_set()

    def end(self, container: Container, code: int) -> None:
        """The container's process exits with `code`, as the kernel would report it."""
        self._fabric.exited[container.id] = code
        self._event(self._ended, container.pid).set()
