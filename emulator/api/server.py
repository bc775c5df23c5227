"""The HTTP server: one thread per connection on a root-only Unix socket.

Besides plain request/response it supports Docker's connection hijack (`101
UPGRADED`), over which exec and attach stream a process's output.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import socket
import socketserver
import struct
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from emulator.api.router import VERSION_PREFIX, Request, Response, Router, parse_query
from emulator.errdefs import DockerError

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
ENGINE_VERSION = "28.2.2-cnm"
_RECORD = os.environ.get("CNM_API_RECORD")
_record_lock = threading.Lock()


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


def request_version(path: str) -> str | None:
    match = VERSION_PREFIX.match(path.partition("?")[0])
    return match.group(1) if match else None


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = socket.SOMAXCONN

    def __init__(self, socket_path: str, router: Router) -> None:
        self.router = router
        super().__init__(socket_path, DockerApiHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a `docker run -d` leaves its /wait behind) is no error."""
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError)):
            return
        print(f"cnm engine API: {type(error).__name__}: {error}", file=sys.stderr)


def _unread(sock: socket.socket) -> int:
    """Bytes we sent that the peer has not read yet."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


class Hijack:
    """The raw connection after `101 UPGRADED`: what exec and attach stream over."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._handler = handler
        self.sock: socket.socket = handler.connection
        self.reader = handler.rfile
        self.upgraded = False

    def upgrade(self, content_type: str) -> None:
        self.upgraded = True
        self._handler.wfile.write(
            b"HTTP/1.1 101 UPGRADED\r\n"
            + f"Content-Type: {content_type}\r\n".encode()
            + b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        )
        self._handler.wfile.flush()
        self._until_client_read()

    def _until_client_read(self, limit: float = 2.0) -> None:
        """Wait until the client has read the 101 headers (the socket's output queue,
        SIOCOUTQ, is empty): a client such as docker-py reads headers through a buffer
        and the stream from the raw socket, losing stream bytes that came with them."""
        deadline = time.monotonic() + limit
        pause = 0.0001
        while _unread(self.sock) and time.monotonic() < deadline:
            select.select([], [], [], pause)
            pause = min(pause * 2, 0.01)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self._handler.close_connection = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class DockerApiHandler(BaseHTTPRequestHandler):
    """One connection's requests, each routed by the server's router."""

    server: _Server

    protocol_version = "HTTP/1.1"
    server_version = f"Docker/{ENGINE_VERSION} (linux)"

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        path, _, query = self.path.partition("?")
        request = Request(self.command, path, parse_query(query),
                          {k.lower(): v for k, v in self.headers.items()}, b"")
        try:
            request.body = self._body()
            if request.headers.get("upgrade"):
                request.hijack = Hijack(self)
            response = self.server.router.route(request)
        except DockerError as exc:
            response = Response(exc.status, {"message": exc.message})
        except (ValueError, KeyError, TypeError) as exc:
            response = Response(400, {"message": f"malformed request: {exc}"})
        except Exception as exc:  # noqa: BLE001 - the server must outlive any request
            response = Response(500, {"message": f"internal error: {type(exc).__name__}: "
                                                 f"{exc}"})
        if _RECORD:
            _record(request, response)
        if response is None or (request.hijack is not None and request.hijack.upgraded):
            if request.hijack is not None:
                request.hijack.close()
            return
        self._send(response)

    def _start_chunked(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        """One HTTP chunk; an empty one ends the body."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _send_later(self, response: Response) -> None:
        self._start_chunked(response.status)
        try:
            body = response.later()
        except DockerError as exc:
            body = {"StatusCode": -1, "Error": {"Message": exc.message}}
        if _RECORD:
            later = Request(self.command, self.path.partition("?")[0], {}, {}, b"")
            later.api_version = request_version(self.path)
            _record(later, Response(response.status, body))
        self._write_chunk((json.dumps(body) + "\n").encode())
        self._write_chunk(b"")

    def _send_chunks(self, response: Response) -> None:
        self._start_chunked(response.status)
        for chunk in response.chunks or []:
            self._write_chunk(chunk)
        self._write_chunk(b"")

    def _send(self, response: Response) -> None:
        if response.later is not None:
            self._send_later(response)
            return
        if response.chunks is not None:
            self._send_chunks(response)
            return
        payload = response.encoded()
        self.send_response(response.status)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Ostype", "linux")
        self.send_header("Docker-Experimental", "false")
        self.send_header("Server", self.server_version)
        headers = dict(response.headers)
        if response.raw is None and response.body is not None:
            headers.setdefault("Content-Type", "application/json")
        for key, value in headers.items():
            self.send_header(key, value)
        if response.status not in (204, 304) and self.command != "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        elif self.command == "HEAD":
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and response.status not in (204, 304):
            self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _handle


class ApiServer:
    """Serves one Docker host's Engine API on `socket_path` until stopped."""

    def __init__(self, router: Router, socket_path: Path) -> None:
        self.socket_path = Path(socket_path)
        self._router = router
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        old_umask = os.umask(0o177)
        try:
            self._server = _Server(str(self.socket_path), self._router)
        finally:
            os.umask(old_umask)
        os.chmod(self.socket_path, 0o600)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"api:{self.socket_path.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.socket_path.unlink(missing_ok=True)

