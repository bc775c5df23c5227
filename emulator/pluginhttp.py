"""The plugin side of Docker's plugin protocol: HTTP/1.1 on a Unix socket.

Shared by every plugin program here (the `mesh` driver, the sample bridgeplugin,
the test plugins), so it imports nothing but the standard library.

Every call is a POST of a JSON object to /Plugin.Activate or /NetworkDriver.METHOD,
answered 200 with a JSON object (Content-Type application/vnd.docker.plugins.v1.2+json);
a failure is 200 with {"Err": "..."}, as Docker plugins answer; a call the plugin
does not implement is 404, which Docker takes as "not implemented" for its optional
calls. Connections are kept alive between calls (Docker's client reuses them).

A `Handler` answers the calls: one method per call, named after it in snake case
(NetworkDriver.CreateEndpoint: `create_endpoint(body) -> dict`). A method may raise
`CallFailed` (answered {"Err": message}) or return `Raw` bytes, for a plugin that must
answer what no well-behaved plugin would.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socketserver
import sys
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
MAX_BODY = 4 << 20
CALLS = (  # the calls of Docker's remote network driver protocol
    "Plugin.Activate",
    *(f"NetworkDriver.{name}" for name in (
        "GetCapabilities", "CreateNetwork", "DeleteNetwork", "AllocateNetwork",
        "FreeNetwork", "CreateEndpoint", "EndpointOperInfo", "DeleteEndpoint", "Join",
        "Leave", "DiscoverNew", "DiscoverDelete", "ProgramExternalConnectivity",
        "RevokeExternalConnectivity", "GwAllocCheck")),
)


class CallFailed(RuntimeError):
    """Raised by a handler's method: answered {"Err": message}."""


@dataclass(frozen=True)
class Raw:
    """An answer sent as it is: for plugins that misbehave on purpose."""

    body: bytes
    status: int = 200
    content_type: str | None = None  # None: no Content-Type header


Answer = dict | Raw
Method = Callable[[dict], Answer]


def method_name(call: str) -> str:
    """NetworkDriver.EndpointOperInfo: endpoint_oper_info."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", call.split(".", 1)[-1]).lower()


class Handler:
    """What a plugin answers. `name` prefixes the errors the server itself answers and
    names the plugin's logger (NAME.plugin)."""

    name = "plugin"

    def method(self, call: str) -> Method | None:
        """The method that answers `call`, or None: the call is not implemented (404)."""
        if call not in CALLS:
            return None
        return getattr(self, method_name(call), None)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    handler: Handler
    log: logging.Logger


class _BadBody(ValueError):
    pass


class _Connection(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle kept-alive connection is closed after this
    server: _Server

    @property
    def server_version(self) -> str:  # type: ignore[override]
        return self.server.handler.name

    def address_string(self) -> str:  # a Unix socket peer has no address
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        self.server.log.debug("%s", format % args)

    def _send(self, status: int, body: bytes, content_type: str | None) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _reply(self, status: int, payload: object) -> None:
        self._send(status, (json.dumps(payload) + "\n").encode(), CONTENT_TYPE)

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if sum(map(len, chunks)) > MAX_BODY:
                    raise ValueError("request body too large")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _request(self, raw: bytes) -> dict:
        name = self.server.handler.name
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise _BadBody(f"{name}: the request body is not JSON: {exc}") from None
        if body is None:  # what Go's encoder makes of a nil request (Plugin.Activate)
            return {}
        if not isinstance(body, dict):
            raise _BadBody(f"{name}: the request body must be a JSON object")
        return body

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        handler, log = self.server.handler, self.server.log
        try:
            raw = self._body()
        except ValueError as exc:
            self.close_connection = True
            self._reply(400, {"Err": f"{handler.name}: {exc}"})
            return
        method = handler.method(self.path.split("?", 1)[0].removeprefix("/"))
        if method is None:
            self._text(404, "404 page not found\n")
            return
        try:
            body = self._request(raw)
        except _BadBody as exc:
            self._reply(200, {"Err": str(exc)})
            return
        try:
            answer = method(body)
        except CallFailed as exc:
            log.info("%s: %s", self.path, exc)
            answer = {"Err": str(exc)}
        except Exception as exc:  # a bug must still be an answer, not a dropped call
            log.exception("%s failed", self.path)
            answer = {"Err": f"{handler.name}: internal error in {self.path}: {exc}"}
        log.debug("%s %s -> %s", self.path, body, answer)
        if isinstance(answer, Raw):
            self._send(answer.status, answer.body, answer.content_type)
        else:
            self._reply(200, answer)

    def _not_post(self) -> None:
        self._text(405, "405 method not allowed\n")

    do_GET = do_PUT = do_DELETE = _not_post  # noqa: N815


class PluginServer:
    """`handler` answering on the Unix socket `path` (replacing a stale socket there),
    one thread per connection; close() stops it and removes the socket."""

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self._server = _Server(path, _Connection)
        self._server.handler = handler
        self._server.log = logging.getLogger(f"{handler.name}.plugin")
        self._serving = False
        os.chmod(path, 0o660)

    def serve_forever(self) -> None:
        self._serving = True
        self._server.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        """Stop serving (from any thread but the one serving) and remove the socket."""
        if self._serving:
            self._server.shutdown()  # returns at once if serve_forever has ended
        self._remove()

    def _remove(self) -> None:
        self._server.server_close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def serve(path: str, handler: Handler) -> None:
    """A plugin program's main loop (main thread only): serve until SIGTERM or SIGINT,
    then remove the socket."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sys.exit(0))
    server = PluginServer(path, handler)
    try:
        server.serve_forever()
    finally:  # serve_forever has ended (SystemExit): nothing to stop
        server._remove()
