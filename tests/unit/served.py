"""An engine on the fake fabric served on a Unix socket, and a raw HTTP client.

What reaches the handlers through the real server (h11, limits, threads) can be
tested without root: the socket lives in the test's tmp directory.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from api_helpers import FakeProcesses

from emulator.api.context import HostContext
from emulator.api.host_api import ROUTES
from emulator.api.router import Router
from emulator.api.server import ApiServer, Limits
from emulator.cnm.engine import Engine
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.fabric.fake import FakeFabric


@dataclass
class Served:
    engine: Engine
    processes: FakeProcesses
    server: ApiServer
    api: docker.APIClient

    @property
    def socket_path(self) -> Path:
        return self.server.socket_path

    def post(self, path: str, body: Any, raw: bool = False):
        """POST a JSON body (or, `raw`, these very bytes): requests' Response."""
        data = body if raw else json.dumps(body)
        return self.api._post(self.api._url(path), data=data,
                              headers={"Content-Type": "application/json"})

    def get(self, path: str, **params: Any):
        return self.api._get(self.api._url(path), params=params)


@contextmanager
def served(tmp_path: Path, limits: Limits | None = None, router: Router | None = None,
           log_hint: str | None = None) -> Iterator[Served]:
    fabric = FakeFabric("h1")
    engine = Engine("h1", fabric)
    processes = FakeProcesses(fabric)
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    engine.lifecycle = ContainerLifecycle(engine, log_dir, processes.wait_end)
    router = router or Router(ROUTES, HostContext(engine))
    server = ApiServer(router, tmp_path / "h1.sock", log_hint=log_hint, limits=limits)
    server.start()
    api = docker.APIClient(base_url=f"unix://{server.socket_path}", version="1.45", timeout=10)
    try:
        yield Served(engine, processes, server, api)
    finally:
        api.close()
        server.stop()


def connect(path: Path, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(str(path))
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (or the socket's timeout)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        chunks.append(b"<timeout>")
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def exchange(path: Path, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes."""
    with connect(path, timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


def status_and_body(raw: bytes) -> tuple[int, Any]:
    """The status and JSON body of the first answer in `raw`."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"\r\ntransfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[:int(size, 16)]
    return status, json.loads(body) if body.strip() else None


def request(method: str, target: str, body: bytes = b"", headers: str = "") -> bytes:
    """A whole HTTP/1.1 request that closes the connection after its answer."""
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    return (f"{method} {target} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
            f"{headers}{length}\r\n").encode() + body
