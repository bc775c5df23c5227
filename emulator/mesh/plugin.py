"""The plugin endpoint: HTTP/1.1 on a Unix socket, as Docker's plugin clients speak it.

Every call is a POST of a JSON object to /Plugin.Activate or /NetworkDriver.METHOD,
answered 200 with a JSON object (Content-Type application/vnd.docker.plugins.v1.2+json);
a failure is 200 with {"Err": "..."}, as Docker plugins answer; a call the plugin
does not implement is 404, which Docker takes as "not implemented" for its optional
calls. Connections are kept alive between calls (Docker's client reuses them).
"""

from __future__ import annotations

import json
import logging
import os
import socketserver
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from emulator.mesh.driver import PluginError

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
MAX_BODY = 4 << 20

Route = Callable[[dict], dict]
log = logging.getLogger("mesh.plugin")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    routes: dict[str, Route]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mesh"
    timeout = 120  # an idle kept-alive connection is closed after this
    server: _Server

    def address_string(self) -> str:  # a Unix socket peer has no address
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s", format % args)

    def _reply(self, status: int, payload: object, content_type: str = CONTENT_TYPE) -> None:
        body = (json.dumps(payload) + "\n").encode() if content_type == CONTENT_TYPE \
            else str(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        try:
            raw = self._body()
        except ValueError as exc:
            self.close_connection = True
            self._reply(400, {"Err": f"mesh: {exc}"})
            return
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self._reply(404, "404 page not found\n", "text/plain; charset=utf-8")
            return
        try:
            body = json.loads(raw) if raw.strip() else {}
            if body is None:  # what Go's encoder makes of a nil request (Plugin.Activate)
                body = {}
            if not isinstance(body, dict):
                raise PluginError("mesh: the request body must be a JSON object")
        except ValueError as exc:
            self._reply(200, {"Err": f"mesh: the request body is not JSON: {exc}"})
            return
        except PluginError as exc:
            self._reply(200, {"Err": str(exc)})
            return
        try:
            answer = route(body)
        except PluginError as exc:
            log.info("%s: %s", self.path, exc)
            answer = {"Err": str(exc)}
        except Exception as exc:  # a bug must still be an answer, not a dropped call
            log.exception("%s failed", self.path)
            answer = {"Err": f"mesh: internal error in {self.path}: {exc}"}
        log.debug("%s %s -> %s", self.path, body, answer)
        self._reply(200, answer)

    def _not_post(self) -> None:
        self._reply(405, "405 method not allowed\n", "text/plain; charset=utf-8")

    do_GET = do_PUT = do_DELETE = _not_post  # noqa: N815


class PluginServer:
    def __init__(self, path: str, routes: dict[str, Route]) -> None:
        self.path = path
        if os.path.exists(path):
            os.unlink(path)  # a stale socket of a daemon that is gone (checked by launch)
        self.server = _Server(path, _Handler)
        self.server.routes = routes
        os.chmod(path, 0o660)

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
