"""The mesh's Engine API proxy: what `mesh env` points the docker CLI at.

Weave's proxy sat between the docker client and dockerd and attached new
containers to the weave network; this one does the same for the mesh. It listens
on a Unix socket of its own (STATE_DIR/docker.sock) and passes every request to
the host's Engine API unchanged, answers and streams included (logs -f, events,
wait) and connections taken over after `Upgrade: tcp` (attach, exec), except one:
a `POST /containers/create` that names no network is sent on with the mesh
network in its place, so a plain `docker run` lands on the mesh.

"Names no network": HostConfig.NetworkMode missing, empty or "default" (what the
docker CLI and docker-py send when no --network is given), and no network but
"default" in NetworkingConfig.EndpointsConfig (the CLI puts --ip and --mac-address
of a run without --network under "default"; those settings move to the mesh
network, and --link becomes the mesh endpoint's link, as the CLI sends it for a
user-defined network). Anything else (`--network X`, `--network bridge`,
`--net=none`, host, container:ID) is left alone. The mesh network (default name
"mesh", driver mesh, global scope) is created through the Engine API the first
time a container needs it, as Weave's launch created its "weave" network.

Only the client-to-engine direction is parsed: request heads, and bodies by
Content-Length or chunks, until a request asking for `Upgrade` hands the rest of
the connection over as raw bytes. What the engine sends back is copied byte for
byte, so a response needs no parsing to be streamed. A half-close is passed on
as a half-close (it is how the docker CLI ends an attached stdin).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from emulator.mesh.control import MeshError

DEFAULT_NETWORK = "mesh"
DRIVER = "mesh"
MAX_LINE = 64 << 10  # a request line or header line
MAX_HEAD = 1 << 20  # all of a request's head
MAX_CREATE_BODY = 16 << 20  # a container create body the proxy reads whole
UNIX_PATH_MAX = 107
CREATE_PATH = re.compile(r"^(/v[0-9]+(\.[0-9]+)?)?/containers/create$")
NOT_A_NETWORK = ("", "default")  # NetworkMode values that name no network

log = logging.getLogger("mesh.proxy")


class BadRequest(ValueError):
    """A request the proxy cannot frame; answered 400 and the connection closed."""


@dataclass(frozen=True)
class Refusal(Exception):
    """The proxy answers this itself, as the Engine API answers errors."""

    status: int
    message: str


# -- which creates get the mesh ---------------------------------------------------------


def names_a_network(body: dict) -> bool:
    """Does this container create body say which network the container goes on?"""
    host_config = body.get("HostConfig") or {}
    mode = host_config.get("NetworkMode") if isinstance(host_config, dict) else None
    if mode not in (None, *NOT_A_NETWORK):
        return True
    networking = body.get("NetworkingConfig") or {}
    endpoints = networking.get("EndpointsConfig") if isinstance(networking, dict) else None
    return bool(endpoints) and any(name != "default" for name in endpoints)


def on_mesh(body: dict, network: str) -> dict | None:
    """The create body with the container on `network` instead of the default one, or
    None when the body names a network (it is sent as it came)."""
    if names_a_network(body):
        return None
    host_config = body.get("HostConfig")
    rewritten = {**body, "HostConfig": {**(host_config if isinstance(host_config, dict)
                                          else {}), "NetworkMode": network}}
    endpoints = ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    settings = endpoints.get("default")
    links = rewritten["HostConfig"].get("Links")
    if links and not (settings or {}).get("Links"):
        # what the docker CLI sends for `--network NET --link ...`: on a user-defined
        # network a link is the endpoint's (an alias), not a legacy link
        settings = {**(settings or {}), "Links": list(links)}
    rewritten["NetworkingConfig"] = {
        **(body.get("NetworkingConfig") or {}),
        "EndpointsConfig": {network: settings} if settings else {}}
    return rewritten


# -- the proxy's own calls to the engine -------------------------------------------------


def socket_path(docker_host: str) -> Path:
    """The Unix socket of a DOCKER_HOST value (unix:///path, or a path)."""
    if docker_host.startswith("unix://"):
        docker_host = docker_host.removeprefix("unix://")
    elif "://" in docker_host:
        raise MeshError(f"the mesh proxy fronts a Unix socket only, not {docker_host}")
    if not docker_host.startswith("/"):
        raise MeshError(f"not an absolute socket path: {docker_host!r}")
    return Path(docker_host)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.path))


def engine_call(upstream: Path, method: str, path: str, body: dict | None = None,
                timeout: float = 60.0) -> tuple[int, dict]:
    """One call to the Engine API: (status, JSON answer or {})."""
    conn = _UnixConnection(upstream, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    except OSError as exc:
        raise Refusal(502, f"mesh proxy: cannot reach the Engine API at {upstream}: "
                           f"{exc.strerror or exc}") from None
    finally:
        conn.close()
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError:
        answer = {"message": raw.decode(errors="replace")}
    return response.status, answer if isinstance(answer, dict) else {}


def ensure_network(upstream: Path, name: str) -> None:
    """Make sure the mesh network exists, creating it on first use; a network of that
    name with another driver is refused, never used."""
    for _ in range(2):
        status, answer = engine_call(upstream, "GET", f"/networks/{quote(name)}")
        if status == 200:
            if answer.get("Driver") != DRIVER:
                raise Refusal(409, f"mesh proxy: network {name} has driver "
                              f"{answer.get('Driver')}, not {DRIVER}; remove it or give "
                              "containers a --network")
            return
        if status != 404:
            raise Refusal(status, f"mesh proxy: inspecting network {name}: "
                          f"{answer.get('message', status)}")
        status, answer = engine_call(upstream, "POST", "/networks/create", {
            "Name": name, "Driver": DRIVER, "CheckDuplicate": True})
        if status == 201:
            log.info("created network %s (driver %s)", name, DRIVER)
            return
        if status != 409:  # 409: made meanwhile (another host's proxy): look again
            raise Refusal(status, f"mesh proxy: cannot create network {name}: "
                          f"{answer.get('message', status)}")
    raise Refusal(500, f"mesh proxy: network {name} keeps appearing and vanishing")


# -- HTTP framing of the client's side ------------------------------------------------------


@dataclass
class RequestHead:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def chunked(self) -> bool:
        encoding = self.header("Transfer-Encoding") or ""
        return encoding.lower().rsplit(",", 1)[-1].strip() == "chunked"

    @property
    def content_length(self) -> int:
        value = self.header("Content-Length")
        if value is None or self.chunked:
            return 0
        if not value.strip().isdigit():
            raise BadRequest(f"bad Content-Length {value!r}")
        return int(value)

    def encode(self, headers: list[tuple[str, str]] | None = None) -> bytes:
        lines = [f"{self.method} {self.target} {self.version}"]
        lines += [f"{key}: {value}" for key, value in
                  (self.headers if headers is None else headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _line(reader: BinaryIO) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BadRequest("line too long")
    return line


def read_head(reader: BinaryIO) -> RequestHead | None:
    """The next request's head, or None at the end of the connection."""
    line = _line(reader)
    while line in (b"\r\n", b"\n"):  # tolerated between requests
        line = _line(reader)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequest(f"bad request line {line[:80]!r}")
    headers: list[tuple[str, str]] = []
    size = len(line)
    while True:
        line = _line(reader)
        size += len(line)
        if size > MAX_HEAD:
            raise BadRequest("request head too large")
        if not line:
            raise BadRequest("connection closed in a request head")
        if line in (b"\r\n", b"\n"):
            break
        key, sep, value = line.decode("latin-1").rstrip("\r\n").partition(":")
        if not sep or not key or key != key.strip():
            raise BadRequest(f"bad header line {line[:80]!r}")
        headers.append((key, value.strip()))
    return RequestHead(parts[0], parts[1], parts[2], headers)


def _chunk_size(line: bytes) -> int:
    try:
        return int(line.split(b";", 1)[0].strip(), 16)
    except ValueError:
        raise BadRequest(f"bad chunk size {line[:40]!r}") from None


def _end_of_chunks(reader: BinaryIO) -> Iterator[bytes]:
    """The trailer lines and the blank line that end a chunked body."""
    while True:
        line = _line(reader)
        if not line:
            raise BadRequest("connection closed in a chunked body")
        yield line
        if line in (b"\r\n", b"\n"):
            return


def body_pieces(reader: BinaryIO, head: RequestHead) -> Iterator[bytes]:
    """The request's body as it came on the wire (chunk framing kept)."""
    if not head.chunked:
        yield from _exactly(reader, head.content_length)
        return
    while True:
        size_line = _line(reader)
        yield size_line
        size = _chunk_size(size_line)
        if size == 0:
            yield from _end_of_chunks(reader)
            return
        yield from _exactly(reader, size + 2)  # the chunk and its CRLF


def _exactly(reader: BinaryIO, count: int) -> Iterator[bytes]:
    while count > 0:
        data = reader.read1(min(count, 1 << 16))  # type: ignore[attr-defined]
        if not data:
            raise BadRequest("connection closed in a request body")
        count -= len(data)
        yield data


def decoded_body(reader: BinaryIO, head: RequestHead, limit: int) -> bytes:
    """The request's body without chunk framing; past `limit` bytes it is refused (and
    the rest of it left unread: the connection must close)."""
    too_large = Refusal(413, f"mesh proxy: a container create body over {limit} bytes")
    if not head.chunked:
        if head.content_length > limit:
            raise too_large
        return b"".join(_exactly(reader, head.content_length))
    data = bytearray()
    while True:
        size = _chunk_size(_line(reader))
        if size == 0:
            for _ in _end_of_chunks(reader):
                pass
            return bytes(data)
        if len(data) + size > limit:
            raise too_large
        data += b"".join(_exactly(reader, size))
        if _line(reader) not in (b"\r\n", b"\n"):
            raise BadRequest("a chunk not followed by CRLF")


def error_response(status: int, message: str) -> bytes:
    body = json.dumps({"message": message}).encode() + b"\n"
    reason = http.client.responses.get(status, "Error")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


# -- the proxy ------------------------------------------------------------------------------


def _shutdown(sock: socket.socket, how: int) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(how)


class _Relay:
    """One client connection and its connection to the engine."""

    def __init__(self, client: socket.socket, proxy: EngineProxy) -> None:
        self.client = client
        self.proxy = proxy
        self.upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.send_lock = threading.Lock()  # the client's socket: answers and our own replies

    def run(self) -> None:
        try:
            self.upstream.connect(str(self.proxy.upstream))
        except OSError as exc:
            self._refuse_first(Refusal(502, "mesh proxy: cannot reach the Engine API at "
                                            f"{self.proxy.upstream}: {exc.strerror or exc}"))
            self.upstream.close()
            return
        answers = threading.Thread(target=self._answers, name="mesh-proxy-answers",
                                   daemon=True)
        answers.start()
        try:
            self._requests()
        finally:
            answers.join()
            self.upstream.close()

    def abort(self) -> None:
        for sock in (self.client, self.upstream):
            _shutdown(sock, socket.SHUT_RDWR)

    def _reply(self, data: bytes) -> None:
        with self.send_lock, contextlib.suppress(OSError):
            self.client.sendall(data)

    def _refuse_first(self, refusal: Refusal) -> None:
        reader = self.client.makefile("rb")
        with contextlib.suppress(BadRequest, OSError):
            read_head(reader)
        self._reply(error_response(refusal.status, refusal.message))
        _shutdown(self.client, socket.SHUT_RDWR)

    def _answers(self) -> None:
        """The engine's side, byte for byte."""
        try:
            while data := self.upstream.recv(1 << 16):
                with self.send_lock:
                    self.client.sendall(data)
        except OSError:
            self.abort()
            return
        _shutdown(self.client, socket.SHUT_WR)

    def _requests(self) -> None:
        reader = self.client.makefile("rb")
        try:
            while (head := read_head(reader)) is not None:
                if head.method == "POST" and CREATE_PATH.match(head.path):
                    self._create(reader, head)
                else:
                    self.upstream.sendall(head.encode())
                    for piece in body_pieces(reader, head):
                        self.upstream.sendall(piece)
                if head.header("Upgrade") is not None:
                    # hijacked (attach, exec): the rest is the process's stdin
                    while data := reader.read1(1 << 16):
                        self.upstream.sendall(data)
                    break
            _shutdown(self.upstream, socket.SHUT_WR)
        except BadRequest as exc:
            log.warning("closing a connection: %s", exc)
            self._reply(error_response(400, f"mesh proxy: {exc}"))
            self.abort()
        except Refusal as refusal:  # the body left unread: nothing more can be framed
            self._reply(error_response(refusal.status, refusal.message))
            self.abort()
        except OSError:
            self.abort()

    def _create(self, reader: BinaryIO, head: RequestHead) -> None:
        body = decoded_body(reader, head, MAX_CREATE_BODY)
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = None  # the engine says what is wrong with it
        rewritten = on_mesh(parsed, self.proxy.network) if isinstance(parsed, dict) else None
        if rewritten is not None:
            try:
                ensure_network(self.proxy.upstream, self.proxy.network)
            except Refusal as refusal:
                self._reply(error_response(refusal.status, refusal.message))
                return
            body = json.dumps(rewritten).encode()
            log.info("container create %s: on network %s", head.target, self.proxy.network)
        headers = [(key, value) for key, value in head.headers
                   if key.lower() not in ("content-length", "transfer-encoding")]
        headers.append(("Content-Length", str(len(body))))
        self.upstream.sendall(head.encode(headers) + body)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.server.proxy.relay(self.request)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    proxy: EngineProxy


class EngineProxy:
    """The proxy of one host's Engine API, on its own Unix socket (root only, as the
    Engine API's)."""

    def __init__(self, path: Path, upstream: Path, network: str = DEFAULT_NETWORK) -> None:
        if len(os.fsencode(path)) > UNIX_PATH_MAX:
            raise MeshError(f"the proxy's socket path is too long for a Unix socket: {path}")
        self.path = path
        self.upstream = upstream
        self.network = network
        self._relays: set[_Relay] = set()
        self._lock = threading.Lock()
        path.unlink(missing_ok=True)
        self._server = _Server(str(path), _Handler)
        self._server.proxy = self
        os.chmod(path, 0o600)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.2,),
                                        name="mesh-proxy", daemon=True)
        self._thread.start()
        log.info("Engine API proxy on %s for %s (new containers on network %s)", self.path,
                 self.upstream, self.network)

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def info(self) -> dict:
        return {"socket": str(self.path), "url": self.url, "upstream": str(self.upstream),
                "network": self.network, "connections": len(self._relays)}

    def relay(self, client: socket.socket) -> None:
        relay = _Relay(client, self)
        with self._lock:
            self._relays.add(relay)
        try:
            relay.run()
        finally:
            with self._lock:
                self._relays.discard(relay)

    def close(self) -> None:
        """Stop listening, end every connection, remove the socket."""
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            relays = list(self._relays)
        for relay in relays:
            relay.abort()
        self.path.unlink(missing_ok=True)
