"""TCP connections to an echo server from inside one lab namespace, timed one by one.

The experiments on swarm services run the same tiny server in every task: on each
connection it writes one line, its hostname and the peer address it sees, and
closes (`ECHO_SERVER`). `EchoClient` connects from inside a lab namespace (the
`outside` host's, a container's: never the machine's own) and reads that line. Its
sockets are opened in batches inside the namespace (a socket keeps the namespace it
was opened in), so switching namespace is not part of any connection's time.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from emulator.probes.namespaced import inside

ECHO_PORT = 80
ECHO_SERVER = (
    "import socket\n"
    "s = socket.socket()\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {ECHO_PORT})); s.listen(1024)\n"
    "name = socket.gethostname()\n"
    "while True:\n"
    "    c, peer = s.accept()\n"
    "    try:\n"
    "        c.sendall(f'{name} {peer[0]}\\n'.encode())\n"
    "    except OSError:\n"
    "        pass\n"
    "    c.close()\n"
)
ECHO_COMMAND = ["python3", "-c", ECHO_SERVER]
"""A task's command: one persistent process (no fork per connection), so what a
connection costs is the path's, not a process start's."""

HOSTNAME_COMMAND = ["busybox", "nc", "-ll", "-p", str(ECHO_PORT), "-e", "hostname"]
"""A lighter task (busybox, about a millisecond to start) that answers its hostname
only: for benchmarks that start many tasks."""

REFUSED, TIMEOUT, RESET, EMPTY = "refused", "timeout", "reset", "empty"


@dataclass(frozen=True)
class Reply:
    """One connection: who answered and what it saw, or how it failed."""

    ok: bool
    hostname: str = ""
    source: str = ""
    error: str = ""
    latency_ms: float | None = None
    """From connect() until the server closed, for answered connections."""


def parse_line(data: bytes) -> tuple[str, str]:
    """The server's line: (hostname, peer address); the peer is "" from a server
    that writes its hostname only."""
    words = data.decode(errors="replace").split()
    if not words:
        return "", ""
    return words[0], words[1] if len(words) > 1 else ""


@dataclass
class _Pending:
    """A connection under way in `EchoClient.paced`."""

    sock: socket.socket
    index: int
    target_index: int
    started: float
    deadline: float
    connected: bool = False
    data: bytes = b""

    def error_code(self) -> int:
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def _error_name(code: int) -> str:
    return {errno.ECONNREFUSED: REFUSED, errno.ECONNRESET: RESET,
            errno.ETIMEDOUT: TIMEOUT}.get(code, errno.errorcode.get(code, str(code)))


class EchoClient:
    """Connections from the network namespace of process `pid`."""

    def __init__(self, pid: int, timeout: float = 1.0, batch: int = 64) -> None:
        self.pid = pid
        self.timeout = timeout
        self.batch = batch
        self._spare: list[socket.socket] = []

    def _socket(self) -> socket.socket:
        if not self._spare:
            with inside(self.pid):
                self._spare = [socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                               for _ in range(self.batch)]
        sock = self._spare.pop()
        sock.settimeout(self.timeout)
        return sock

    def ask(self, address: str, port: int) -> Reply:
        sock = self._socket()
        try:
            started = time.perf_counter()
            sock.connect((address, port))
            data = b""
            while chunk := sock.recv(256):
                data += chunk
            took = (time.perf_counter() - started) * 1000
        except ConnectionRefusedError:
            return Reply(False, error=REFUSED)
        except TimeoutError:
            return Reply(False, error=TIMEOUT)
        except ConnectionResetError:
            return Reply(False, error=RESET)
        except OSError as exc:
            return Reply(False, error=exc.strerror or type(exc).__name__)
        finally:
            sock.close()
        hostname, source = parse_line(data)
        if not hostname:
            return Reply(False, error=EMPTY)
        return Reply(True, hostname, source, latency_ms=took)

    def paced(self, targets: list[tuple[str, int]], pace: float,
              more: Callable[[float], bool], results: list | None = None,
              max_pending: int | None = None) -> list[tuple[float, int, Reply]]:
        """A new connection every `pace` seconds, to the targets in turn, without
        waiting for the earlier ones (each still gets the client's timeout; at most
        `max_pending` at once), while `more(now)` says so; then the last ones are
        waited for. (start time on the perf_counter clock, target index, reply) per
        connection, in start order; appended to `results` as they end, for `more`."""
        selector = selectors.DefaultSelector()
        results = [] if results is None else results
        pending: dict[int, _Pending] = {}
        index = 0
        next_start = time.perf_counter()
        try:
            while True:
                now = time.perf_counter()
                starting = more(now)
                room = max_pending is None or len(pending) < max_pending
                if starting and room and now >= next_start:
                    pending[index] = self._start(selector, targets, index, now)
                    index += 1
                    next_start = max(next_start + pace, now)  # late: no burst to catch up
                    continue
                if not starting and not pending:
                    break
                wake = min([p.deadline for p in pending.values()]
                           + ([next_start] if starting and room else []))
                for key, _ in selector.select(max(0.0, wake - time.perf_counter())):
                    self._step(selector, key.data, pending, results)
                now = time.perf_counter()
                for conn in [p for p in pending.values() if p.deadline <= now]:
                    self._end(selector, conn, pending, results, Reply(False, error=TIMEOUT))
        finally:
            for conn in list(pending.values()):
                selector.unregister(conn.sock)
                conn.sock.close()
            selector.close()
        return sorted(results, key=lambda r: r[0])

    def _start(self, selector: selectors.BaseSelector, targets: list[tuple[str, int]],
               index: int, now: float) -> _Pending:
        """Connect without waiting; writable once connected or refused (SO_ERROR says)."""
        sock = self._socket()
        sock.setblocking(False)
        conn = _Pending(sock, index, index % len(targets), now, now + self.timeout)
        sock.connect_ex(targets[conn.target_index])
        selector.register(sock, selectors.EVENT_WRITE, conn)
        return conn

    def _step(self, selector: selectors.BaseSelector, conn: _Pending,
              pending: dict[int, _Pending], results: list) -> None:
        if not conn.connected:
            code = conn.error_code()
            if code:
                self._end(selector, conn, pending, results,
                          Reply(False, error=_error_name(code)))
                return
            conn.connected = True
            selector.modify(conn.sock, selectors.EVENT_READ, conn)
            return
        try:
            chunk = conn.sock.recv(256)
        except BlockingIOError:
            return
        except OSError as exc:
            self._end(selector, conn, pending, results,
                      Reply(False, error=_error_name(exc.errno or 0)))
            return
        if chunk:
            conn.data += chunk
            return
        hostname, source = parse_line(conn.data)
        took = (time.perf_counter() - conn.started) * 1000
        self._end(selector, conn, pending, results,
                  Reply(True, hostname, source, latency_ms=took) if hostname
                  else Reply(False, error=EMPTY))

    @staticmethod
    def _end(selector: selectors.BaseSelector, conn: _Pending, pending: dict[int, _Pending],
             results: list, reply: Reply) -> None:
        selector.unregister(conn.sock)
        conn.sock.close()
        del pending[conn.index]
        results.append((conn.started, conn.target_index, reply))

    def close(self) -> None:
        for sock in self._spare:
            sock.close()
        self._spare = []

    def __enter__(self) -> EchoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
