"""The mesh's Engine API proxy (emulator/mesh/proxy.py) in front of a fake engine.

The fake engine is a plain HTTP server on a Unix socket that records what reaches
it; the tests speak to the proxy as docker clients do (http.client, raw sockets for
chunked bodies and hijacked connections) and check what the engine got and what
the client got back.
"""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from emulator.mesh.proxy import EngineProxy, on_mesh

MESH = "mesh"


def read_chunked(rfile) -> bytes:
    data = b""
    while True:
        size = int(rfile.readline().split(b";")[0], 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b""):
                pass
            return data
        data += rfile.read(size)
        rfile.readline()


class FakeEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Answers what the proxy and the tests ask; `requests` is what arrived."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        super().__init__(str(path), _EngineHandler)
        self.requests: list[dict] = []
        self.networks: dict[str, str] = {}  # name -> driver
        self.event = threading.Event()  # releases the second event of /events
        self.stdin_closed = threading.Event()

    def created_bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests
                if r["path"].startswith(("/containers/create", "/v1.45/containers/create"))]


class _EngineHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeEngine

    def address_string(self) -> str:
        return "fake"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding") == "chunked":
            return read_chunked(self.rfile)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        self.server.requests.append({"method": "GET", "path": self.path, "body": b""})
        if self.path == "/_ping":
            self._answer(200, None)
        elif self.path.startswith("/networks/"):
            name = self.path.removeprefix("/networks/")
            driver = self.server.networks.get(name)
            if driver is None:
                self._answer(404, {"message": f"network {name} not found"})
            else:
                self._answer(200, {"Name": name, "Driver": driver})
        elif self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in (b'{"Action":"create"}\n', b'{"Action":"destroy"}\n'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                self.server.event.wait(10)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._answer(404, {"message": "page not found"})

    def do_POST(self) -> None:
        body = self._body()
        self.server.requests.append({"method": "POST", "path": self.path, "body": body,
                                     "headers": dict(self.headers)})
        if self.path == "/networks/create":
            spec = json.loads(body)
            self.server.networks[spec["Name"]] = spec["Driver"]
            self._answer(201, {"Id": "n" * 64})
        elif "/containers/create" in self.path:
            self._answer(201, {"Id": "c" * 64, "Warnings": []})
        elif self.path.endswith("/start") and self.headers.get("Upgrade") == "tcp":
            self.send_response(101, "UPGRADED")
            self.send_header("Content-Type", "application/vnd.docker.raw-stream")
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
            self.end_headers()
            self.wfile.flush()
            while line := self.rfile.readline():  # an echo until stdin closes
                self.wfile.write(b"echo: " + line)
                self.wfile.flush()
            self.server.stdin_closed.set()
            self.wfile.write(b"stdin closed\n")
            self.wfile.flush()
            self.close_connection = True
        else:
            self._answer(200, {"Path": self.path, "Length": len(body)})


@pytest.fixture
def engine(tmp_path: Path):
    server = FakeEngine(tmp_path / "engine.sock")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(tmp_path: Path, engine: FakeEngine):
    running = EngineProxy(tmp_path / "proxy.sock", tmp_path / "engine.sock", MESH)
    running.start()
    yield running
    running.close()


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=10)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(self.socket_path))


def call(conn: UnixHTTP, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data,
                 headers={"Content-Type": "application/json"} if data else {})
    response = conn.getresponse()
    raw = response.read()
    return response.status, json.loads(raw) if raw else None


def raw_connection(proxy: EngineProxy) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(proxy.path))
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed before {marker!r}; got {data!r}"
        data += chunk
    return data


# -- which creates get the mesh -----------------------------------------------------------


CLI_DEFAULT = {"Image": "alpine", "HostConfig": {"NetworkMode": "default"},
               "NetworkingConfig": {"EndpointsConfig": {"default": None}}}


@pytest.mark.parametrize("body", [
    {"Image": "alpine"},
    {"Image": "alpine", "HostConfig": {}},
    {"Image": "alpine", "HostConfig": {"NetworkMode": ""}},
    {"Image": "alpine", "HostConfig": {"NetworkMode": "default"}},  # docker-py
    CLI_DEFAULT,  # the docker CLI without --network
], ids=["no-hostconfig", "no-mode", "empty-mode", "default", "cli-default"])
def test_a_create_naming_no_network_goes_on_the_mesh(body):
    rewritten = on_mesh(body, MESH)
    assert rewritten is not None
    assert rewritten["HostConfig"]["NetworkMode"] == MESH
    assert rewritten["NetworkingConfig"]["EndpointsConfig"] == {}
    assert rewritten["Image"] == "alpine"


def test_the_default_endpoints_settings_move_to_the_mesh_network():
    settings = {"MacAddress": "02:42:ac:11:00:99", "Aliases": ["web"]}
    body = {**CLI_DEFAULT, "NetworkingConfig": {"EndpointsConfig": {"default": settings}}}
    assert on_mesh(body, MESH)["NetworkingConfig"]["EndpointsConfig"] == {MESH: settings}


def test_links_become_the_mesh_endpoints_links_as_for_a_user_defined_network():
    body = {"HostConfig": {"NetworkMode": "default", "Links": ["web:w"]}}
    rewritten = on_mesh(body, MESH)
    assert rewritten["NetworkingConfig"]["EndpointsConfig"] == {MESH: {"Links": ["web:w"]}}
    assert rewritten["HostConfig"]["Links"] == ["web:w"]


@pytest.mark.parametrize("mode", ["none", "host", "bridge", "web", "container:abc"])
def test_a_create_naming_a_network_is_left_alone(mode):
    assert on_mesh({"Image": "alpine", "HostConfig": {"NetworkMode": mode}}, MESH) is None


def test_a_network_named_only_in_endpoints_config_is_left_alone():
    body = {"HostConfig": {"NetworkMode": "default"},
            "NetworkingConfig": {"EndpointsConfig": {"web": {}}}}
    assert on_mesh(body, MESH) is None


# -- the proxy in front of an engine --------------------------------------------------------


def test_a_plain_create_reaches_the_engine_on_the_mesh_network_made_once(proxy, engine):
    conn = UnixHTTP(proxy.path)
    assert call(conn, "GET", "/_ping")[0] == 200  # the same kept-alive connection
    status, answer = call(conn, "POST", "/v1.45/containers/create?name=a", CLI_DEFAULT)
    assert (status, answer["Id"]) == (201, "c" * 64)
    status, _ = call(conn, "POST", "/containers/create?name=b", {"Image": "alpine"})
    assert status == 201
    assert engine.networks == {MESH: "mesh"}
    assert [r["path"] for r in engine.requests if r["path"] == "/networks/create"] == \
        ["/networks/create"]
    created = [r for r in engine.requests if "/containers/create" in r["path"]]
    assert [r["path"] for r in created] == ["/v1.45/containers/create?name=a",
                                            "/containers/create?name=b"]
    assert [json.loads(r["body"])["HostConfig"]["NetworkMode"] for r in created] == \
        [MESH, MESH]


@pytest.mark.parametrize("mode", ["none", "host", "bridge", "web"])
def test_a_create_naming_a_network_reaches_the_engine_byte_for_byte(proxy, engine, mode):
    data = json.dumps({"Image": "alpine", "HostConfig": {"NetworkMode": mode}},
                      indent=1).encode()
    conn = UnixHTTP(proxy.path)
    conn.request("POST", "/containers/create", body=data,
                 headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 201
    assert engine.requests[-1]["body"] == data
    assert MESH not in engine.networks


def test_a_mesh_name_taken_by_another_driver_is_refused_and_nothing_created(proxy, engine):
    engine.networks[MESH] = "bridge"
    status, answer = call(UnixHTTP(proxy.path), "POST", "/containers/create",
                          {"Image": "alpine"})
    assert status == 409
    assert "network mesh has driver bridge, not mesh" in answer["message"]
    assert engine.created_bodies() == []


def test_a_chunked_create_is_rewritten_and_a_chunked_upload_passes_unchanged(proxy, engine):
    sock = raw_connection(proxy)
    body = json.dumps({"Image": "alpine"}).encode()
    sock.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n"
                 + b"%x\r\n%s\r\n" % (5, body[:5]) + b"%x\r\n%s\r\n" % (len(body) - 5, body[5:])
                 + b"0\r\n\r\n")
    assert b"201" in read_until(sock, b"\r\n\r\n").split(b"\r\n")[0]
    assert engine.created_bodies()[-1]["HostConfig"]["NetworkMode"] == MESH
    upload = b"x" * 70000
    sock.sendall(b"POST /containers/c/archive HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n"
                 + b"%x\r\n%s\r\n0\r\n\r\n" % (len(upload), upload))
    answer = read_until(sock, b'"Length"')
    assert engine.requests[-1]["body"] == upload, answer
    sock.close()


def test_a_hijacked_exec_streams_both_ways_and_passes_on_the_half_close(proxy, engine):
    sock = raw_connection(proxy)
    sock.sendall(b"POST /exec/e1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                 b"Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                 b"\r\n{}")
    head = read_until(sock, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED")
    sock.sendall(b"hello\n")
    assert read_until(sock, b"echo: hello\n").endswith(b"echo: hello\n")
    sock.sendall(b"GET /not-a-request HTTP/1.1\n")  # stdin now: passed on, not parsed
    assert read_until(sock, b"echo: GET /not-a-request HTTP/1.1\n")
    sock.shutdown(socket.SHUT_WR)
    rest = b""
    while chunk := sock.recv(4096):
        rest += chunk
    assert rest.endswith(b"stdin closed\n")
    assert engine.stdin_closed.is_set()


def test_a_streamed_answer_arrives_as_it_is_sent(proxy, engine):
    conn = UnixHTTP(proxy.path)
    conn.request("GET", "/events")
    response = conn.getresponse()
    assert response.status == 200
    # the second event is held back by the engine until the first has arrived
    assert json.loads(response.readline()) == {"Action": "create"}
    engine.event.set()
    assert json.loads(response.readline()) == {"Action": "destroy"}


def test_closing_the_proxy_ends_its_connections_and_removes_its_socket(proxy, engine):
    conn = UnixHTTP(proxy.path)
    conn.request("GET", "/events")
    response = conn.getresponse()
    assert json.loads(response.readline()) == {"Action": "create"}
    proxy.close()
    assert not proxy.path.exists()
    assert response.readline() == b""  # ended, not left hanging
    engine.event.set()


def test_an_engine_that_is_gone_is_a_502_naming_it(tmp_path):
    proxy = EngineProxy(tmp_path / "proxy.sock", tmp_path / "gone.sock", MESH)
    proxy.start()
    try:
        status, answer = call(UnixHTTP(proxy.path), "GET", "/_ping")
    finally:
        proxy.close()
    assert status == 502
    assert str(tmp_path / "gone.sock") in answer["message"]


def test_a_request_the_proxy_cannot_frame_is_a_400(proxy):
    sock = raw_connection(proxy)
    sock.sendall(b"POST /containers/create HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
    assert read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 400")
