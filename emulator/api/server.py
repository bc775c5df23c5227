"""The HTTP server of one emulated host's Engine API, on a root-only Unix socket.

HTTP/1.1 is h11's (strict framing: a bad or conflicting Content-Length, a bad
chunk or a body cut short is refused and never reaches a handler), with
`Limits` on what a client may hold: the size of a request's head and body, the
time to send a request once begun, the time a connection may sit idle.

Threads: one loop thread accepts connections and reads requests (non-blocking,
one selector over every connection: an idle connection costs no thread); a
fixed pool of workers answers complete requests; a stream thread, at most
`Limits.max_streams` of them, carries each request that streams: an upgraded
connection (`101 UPGRADED`, over which exec and attach stream a process's
output), or a route declared `streams` (`/wait`, whose answer comes when the
container ends).

A handler's unexpected exception is logged (logger "emulator.api") and answered
500 `internal error: ...`, with the server's `log_hint` appended (where to read
that log).
"""

from __future__ import annotations

import errno
import http
import json
import logging
import os
import queue
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import h11

from emulator.api.hijack import Hijack
from emulator.api.router import Request, Response, Router, parse_query
from emulator.api.version import API_VERSION, ENGINE_VERSION, MIN_API_VERSION
from emulator.errdefs import DockerError
from emulator.fabric import readiness

__all__ = ["API_VERSION", "ENGINE_VERSION", "MIN_API_VERSION", "ApiServer", "Limits"]

SERVER = f"Docker/{ENGINE_VERSION} (linux)"
_RECORD = os.environ.get("CNM_API_RECORD")
_record_lock = threading.Lock()
_log = logging.getLogger("emulator.api")


def _record(request: Request, response: Response | None) -> None:
    """Append one JSON line per exchange to $CNM_API_RECORD (tests check every body)."""
    entry = {
        "method": request.method, "path": request.path, "api_version": request.api_version,
        "status": response.status if response is not None else 101,
        "body": response.body if response is not None and response.raw is None else None,
        "later": response is not None and response.later is not None,
    }
    with _record_lock, open(_RECORD, "a") as log:
        log.write(json.dumps(entry) + "\n")


@dataclass(frozen=True)
class Limits:
    """What one client may take of the server."""

    max_body: int = 4 << 20
    """Bytes of a request body (larger: 413)."""
    max_head: int = 64 << 10
    """Bytes of a request line and headers (larger: 431)."""
    read_timeout: float = 30.0
    """Seconds to send a whole request once its first byte came (then: 408)."""
    idle_timeout: float = 60.0
    """Seconds a connection may wait between requests before it is closed."""
    write_timeout: float = 60.0
    """Seconds a client may take to read an answer."""
    workers: int = 8
    """Threads answering requests."""
    max_streams: int = 512
    """Requests streaming at once (exec, attach, wait); more: 503."""
    max_connections: int = 1024
    """Open connections; at the limit the oldest idle one is closed for a new one."""


class _Connection:
    """One client connection: its socket, its HTTP state and the request being read."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        self.sock = sock
        self.http = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head)
        self.head: h11.Request | None = None
        self.body = bytearray()
        self.deadline: float | None = None
        """When a request begun must have arrived; None while idle."""
        self.idle_since = time.monotonic()


def _error_bytes(status: int, message: str) -> bytes:
    """A whole answer, written without the state machine: for requests refused
    before (or instead of) being parsed; the connection closes after it."""
    body = (json.dumps({"message": message}) + "\n").encode()
    head = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            f"Api-Version: {API_VERSION}\r\nContent-Type: application/json\r\n"
            f"Server: {SERVER}\r\nDate: {formatdate(usegmt=True)}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class ApiServer:
    """Serves one Docker host's Engine API on `socket_path` until stopped."""

    def __init__(self, router: Router, socket_path: Path, log_hint: str | None = None,
                 limits: Limits | None = None) -> None:
        self.socket_path = Path(socket_path)
        self._router = router
        self._log_hint = log_hint
        self._limits = limits or Limits()
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._accepting = False
        self._accept_retry = float("inf")
        """When to try accepting again after the system ran out of descriptors."""
        self._wake_r, self._wake_w = socket.socketpair()
        self._returned: queue.SimpleQueue[_Connection] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[tuple[_Connection, Request] | None] = queue.SimpleQueue()
        self._streams = threading.BoundedSemaphore(self._limits.max_streams)
        self._lock = threading.Lock()
        self._connections: set[_Connection] = set()
        self._owned: dict[_Connection, None] = {}
        """Connections the loop reads (insertion order: the oldest idle first)."""
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # -- life ---------------------------------------------------------------------

    def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(str(self.socket_path))
        finally:
            os.umask(old_umask)
        os.chmod(self.socket_path, 0o600)
        listener.listen(socket.SOMAXCONN)
        listener.setblocking(False)
        self._listener = listener
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._accept_again()
        name = self.socket_path.name
        self._threads = [threading.Thread(target=self._loop, name=f"api:{name}", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"api:{name}:{i}",
                                           daemon=True) for i in range(self._limits.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        if self._listener is None:
            return
        self._stopping = True
        self._wake()
        self._threads[0].join(timeout=5)
        for _ in self._threads[1:]:
            self._jobs.put(None)
        with self._lock:
            busy = list(self._connections)
        for conn in busy:
            self._close(conn, shutdown=True)
        self._listener.close()
        self._listener = None
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self.socket_path.unlink(missing_ok=True)

    # -- the loop: accepting and reading ---------------------------------------------

    def _loop(self) -> None:
        last_check = time.monotonic()
        while not self._stopping:
            for key, _ in self._selector.select(timeout=1.0):
                if key.data == "listen":
                    self._accept()
                elif key.data == "wake":
                    self._woken()
                else:
                    self._readable(key.data)
            now = time.monotonic()
            if now - last_check >= 0.5:
                self._expire(now)
                last_check = now
                if not self._accepting and now >= self._accept_retry:
                    self._accept_again()
        for conn in list(self._owned):
            self._close(conn)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def _woken(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        while True:
            try:
                conn = self._returned.get_nowait()
            except queue.Empty:
                break
            self._own(conn)
            self._advance(conn)
        if not self._accepting:
            self._accept_again()

    def _accept_again(self) -> None:
        if self._listener is not None and self._room():
            self._selector.register(self._listener, selectors.EVENT_READ, "listen")
            self._accepting = True

    def _pause_accepting(self, until: float) -> None:
        """Stop accepting until a connection closes (or, after an error, until `until`)."""
        assert self._listener is not None
        self._selector.unregister(self._listener)
        self._accepting = False
        self._accept_retry = until

    def _room(self) -> bool:
        """Whether a new connection may come in (closing the oldest idle one if need be)."""
        with self._lock:
            if len(self._connections) < self._limits.max_connections:
                return True
        return self._evict_idle()

    def _evict_idle(self) -> bool:
        idle = next((c for c in self._owned if c.deadline is None), None)
        if idle is None:
            return False
        self._close(idle)
        return True

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            if not self._room():
                self._pause_accepting(float("inf"))
                return
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE) and self._evict_idle():
                    continue
                _log.warning("accepting a connection on %s: %s", self.socket_path, exc)
                self._pause_accepting(time.monotonic() + 0.5)
                return
            conn = _Connection(sock, self._limits)
            with self._lock:
                self._connections.add(conn)
            self._own(conn)

    def _own(self, conn: _Connection) -> None:
        conn.sock.setblocking(False)
        conn.deadline = None
        conn.idle_since = time.monotonic()
        self._owned[conn] = None
        self._selector.register(conn.sock, selectors.EVENT_READ, conn)

    def _disown(self, conn: _Connection) -> None:
        if conn in self._owned:
            del self._owned[conn]
            self._selector.unregister(conn.sock)

    def _readable(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data and conn.deadline is None:
            conn.deadline = time.monotonic() + self._limits.read_timeout
            self._owned.pop(conn)
            self._owned[conn] = None
        conn.http.receive_data(data)
        self._advance(conn)

    def _advance(self, conn: _Connection) -> None:
        """Take in what the connection has received, up to a whole request."""
        while True:
            try:
                event = conn.http.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(conn, exc.error_status_hint, f"bad HTTP request: {exc}")
                return
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Request):
                if conn.deadline is None:
                    conn.deadline = time.monotonic() + self._limits.read_timeout
                conn.head, conn.body = event, bytearray()
                head = len(event.method) + len(event.target) + sum(
                    len(name) + len(value) + 4 for name, value in event.headers)
                if head > self._limits.max_head:
                    self._refuse(conn, 431, f"request head too large: {head} bytes, the limit "
                                            f"is {self._limits.max_head} bytes")
                    return
                length = _content_length(event)
                if length is not None and length > self._limits.max_body:
                    self._too_large(conn, length)
                    return
                if conn.http.they_are_waiting_for_100_continue:
                    self._send_now(conn, conn.http.send(h11.InformationalResponse(
                        status_code=100, headers=[])) or b"")
            elif isinstance(event, h11.Data):
                conn.body += event.data
                if len(conn.body) > self._limits.max_body:
                    self._too_large(conn, len(conn.body))
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._dispatch(conn)
                return
            else:
                self._close(conn)
                return

    def _too_large(self, conn: _Connection, size: int) -> None:
        self._refuse(conn, 413, f"request body too large: {size} bytes, the limit is "
                                f"{self._limits.max_body} bytes")

    def _refuse(self, conn: _Connection, status: int, message: str) -> None:
        self._send_now(conn, _error_bytes(status, message))
        self._close(conn)

    @staticmethod
    def _send_now(conn: _Connection, data: bytes) -> None:
        """A short write from the loop, which never waits on a client."""
        try:
            conn.sock.send(data)
        except OSError:
            pass

    def _expire(self, now: float) -> None:
        for conn in list(self._owned):
            if conn.deadline is not None and now > conn.deadline:
                self._refuse(conn, 408, "timed out reading the request: the limit is "
                                        f"{self._limits.read_timeout:g} s")
            elif conn.deadline is None and now - conn.idle_since > self._limits.idle_timeout:
                self._close(conn)

    def _dispatch(self, conn: _Connection) -> None:
        self._disown(conn)
        head = conn.head
        assert head is not None
        target = head.target.decode("ascii", "replace")
        path, _, query = target.partition("?")
        request = Request(head.method.decode("ascii", "replace"), path, parse_query(query),
                          {k.decode("latin-1").lower(): v.decode("latin-1")
                           for k, v in head.headers}, bytes(conn.body))
        conn.head, conn.body = None, bytearray()
        if "upgrade" in request.headers or self._router.streams(request.method, path):
            if not self._streams.acquire(blocking=False):
                self._refuse(conn, 503, "too many streaming requests at once (the limit is "
                                        f"{self._limits.max_streams}): try again later")
                return
            threading.Thread(target=self._stream, args=(conn, request), daemon=True,
                             name=f"api:{self.socket_path.name}:stream").start()
        else:
            self._jobs.put((conn, request))

    # -- answering ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._serve(*job)

    def _stream(self, conn: _Connection, request: Request) -> None:
        try:
            self._serve(conn, request)
        finally:
            self._streams.release()

    def _serve(self, conn: _Connection, request: Request) -> None:
        try:
            conn.sock.settimeout(self._limits.write_timeout)
            if "upgrade" in request.headers:
                request.hijack = Hijack(conn.sock, conn.http)
            response = self._answer(request)
            if _RECORD:
                _record(request, response)
            if response is None or (request.hijack is not None and request.hijack.upgraded):
                self._close(conn)
                return
            self._send(conn, request, response)
        except OSError:
            self._close(conn)
            return
        except Exception:  # noqa: BLE001 - a server thread must outlive any request
            _log.exception("answering %s %s", request.method, request.path)
            self._close(conn)
            return
        self._finish(conn)

    def _answer(self, request: Request) -> Response | None:
        try:
            return self._router.route(request)
        except DockerError as exc:
            return Response(exc.status, {"message": exc.message})
        except OSError as exc:
            hijack = request.hijack
            if hijack is not None and hijack.upgraded and exc.errno in (
                    errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN):
                return None
            return self._internal_error(request, exc)
        except Exception as exc:  # noqa: BLE001 - every request gets an answer
            return self._internal_error(request, exc)

    def _internal_error(self, request: Request, exc: Exception) -> Response:
        _log.exception("internal error answering %s %s", request.method, request.path)
        message = f"internal error: {type(exc).__name__}: {exc}"
        if self._log_hint:
            message += f" ({self._log_hint})"
        return Response(500, {"message": message})

    def _send(self, conn: _Connection, request: Request, response: Response) -> None:
        streamed = (response.later is not None or response.chunks is not None
                    or response.stream is not None)
        headers = [("Api-Version", API_VERSION), ("Docker-Experimental", "false"),
                   ("Ostype", "linux"), ("Server", SERVER),
                   ("Date", formatdate(usegmt=True))]
        extra = dict(response.headers)
        if response.raw is None and (response.body is not None or streamed):
            extra.setdefault("Content-Type", "application/json")
        headers += list(extra.items())
        payload = b"" if streamed else response.encoded()
        if streamed:
            headers.append(("Transfer-Encoding", "chunked"))
        elif response.status not in (204, 304):
            headers.append(("Content-Length", str(len(payload))))
        write = conn.sock.sendall
        write(conn.http.send(h11.Response(
            status_code=response.status, headers=headers,
            reason=http.HTTPStatus(response.status).phrase.encode())) or b"")
        if response.later is not None:
            self._send_later(conn, request, response, write)
            return
        if response.stream is not None:
            self._send_stream(conn, response.stream, write)
            return
        for chunk in response.chunks or []:
            write(conn.http.send(h11.Data(data=chunk)) or b"")
        if payload and request.method != "HEAD" and response.status not in (204, 304):
            write(conn.http.send(h11.Data(data=payload)) or b"")
        write(conn.http.send(h11.EndOfMessage()) or b"")

    def _send_later(self, conn: _Connection, request: Request, response: Response,
                    write) -> None:
        """dockerd's /wait: the headers went out, the JSON follows when there is one."""
        assert response.later is not None
        try:
            body = response.later()
        except DockerError as exc:
            body = {"StatusCode": -1, "Error": {"Message": exc.message}}
        if _RECORD:
            later = Request(request.method, request.path, {}, {}, b"")
            later.api_version = request.api_version
            _record(later, Response(response.status, body))
        write(conn.http.send(h11.Data(data=(json.dumps(body) + "\n").encode())) or b"")
        write(conn.http.send(h11.EndOfMessage()) or b"")

    def _send_stream(self, conn: _Connection, pieces, write) -> None:
        """Each piece as a chunk as soon as it comes; the end once the pieces end, or
        the client left (an empty piece is the moment to look), or the server stops."""
        try:
            for piece in pieces:
                if piece:
                    write(conn.http.send(h11.Data(data=piece)) or b"")
                elif self._stopping or _peer_gone(conn.sock):
                    conn.http.send_failed()
                    return
            write(conn.http.send(h11.EndOfMessage()) or b"")
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    def _finish(self, conn: _Connection) -> None:
        """After an answer: the connection goes back to the loop, or closes."""
        if conn.http.our_state is not h11.DONE or conn.http.their_state is not h11.DONE:
            self._close(conn)
            return
        try:
            conn.http.start_next_cycle()
        except h11.LocalProtocolError:
            self._close(conn)
            return
        if self._stopping:
            self._close(conn)
            return
        self._returned.put(conn)
        self._wake()

    def _close(self, conn: _Connection, shutdown: bool = False) -> None:
        """Close a connection; the loop's own ones leave its selector first (a worker
        or stream thread only ever closes one the loop has handed over)."""
        self._disown(conn)
        with self._lock:
            known = conn in self._connections
            self._connections.discard(conn)
        if shutdown:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            conn.sock.close()
        except OSError:
            pass
        if known and not self._accepting and not self._stopping:
            self._wake()


def _peer_gone(sock: socket.socket) -> bool:
    """Whether the client closed its end (what it sends while a stream runs is dropped)."""
    while True:
        readable = readiness.ready([sock], timeout=0)[0]
        if not readable:
            return False
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        if not data:
            return True


def _content_length(head: h11.Request) -> int | None:
    for name, value in head.headers:
        if name == b"content-length":
            return int(value)
    return None
