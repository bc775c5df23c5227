"""The plugin side of Docker's plugin protocol (emulator.pluginhttp), spoken to by the
remote driver's own client and in raw HTTP, on a Unix socket in a temporary directory."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.drivers.remote.client import (
    NotImplementedByPlugin,
    PluginAddress,
    PluginCallFailed,
    PluginClient,
    PluginError,
)
from emulator.pluginhttp import CONTENT_TYPE, CallFailed, Handler, PluginServer, Raw, method_name


class Sample(Handler):
    name = "sample"

    def activate(self, body: dict) -> dict:
        return {"Implements": ["NetworkDriver"]}

    def create_network(self, body: dict) -> dict:
        return {"seen": body}

    def endpoint_oper_info(self, body: dict) -> dict:
        raise CallFailed("sample: no such endpoint")

    def join(self, body: dict) -> dict:
        raise ZeroDivisionError("boom")

    def leave(self, body: dict) -> Raw:
        return Raw(b"<html>surprise</html>")

    def delete_endpoint(self, body: dict) -> Raw:
        return Raw(b"[1, 2, 3]")

    def close(self, body: dict) -> dict:  # not one of Docker's calls
        return {}


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=5)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sample.sock"
    path.write_text("a stale socket of a plugin that is gone")
    server = PluginServer(str(path), Sample())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.close()
    thread.join(5)
    assert not thread.is_alive()
    assert not path.exists()


def client(path: Path) -> PluginClient:
    return PluginClient(PluginAddress("sample", unix=str(path)), timeout=5)


def post(path: Path, call: str, body: bytes, method: str = "POST") -> tuple[int, str, bytes]:
    conn = _UnixHTTP(path)
    try:
        conn.request(method, "/" + call, body, {"Content-Type": CONTENT_TYPE})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        conn.close()


def test_calls_are_answered_by_the_methods_named_after_them(sock: Path) -> None:
    assert client(sock).call("Plugin.Activate") == {"Implements": ["NetworkDriver"]}
    assert client(sock).call("NetworkDriver.CreateNetwork", {"NetworkID": "n1"}) == {
        "seen": {"NetworkID": "n1"}}
    assert method_name("NetworkDriver.EndpointOperInfo") == "endpoint_oper_info"
    assert method_name("Plugin.Activate") == "activate"


def test_a_failed_call_is_err_and_a_bug_is_still_an_answer(sock: Path) -> None:
    with pytest.raises(PluginCallFailed) as caught:
        client(sock).call("NetworkDriver.EndpointOperInfo", {})
    assert caught.value.message == "sample: no such endpoint"
    with pytest.raises(PluginCallFailed) as caught:
        client(sock).call("NetworkDriver.Join", {})
    assert caught.value.message == "sample: internal error in /NetworkDriver.Join: boom"


@pytest.mark.parametrize("call", ["NetworkDriver.AllocateNetwork", "NetworkDriver.Close",
                                  "Nope.Nothing"])
def test_a_call_without_a_method_or_not_dockers_is_404(sock: Path, call: str) -> None:
    with pytest.raises(NotImplementedByPlugin):
        client(sock).call(call, {})
    assert post(sock, call, b"{}") == (404, "text/plain; charset=utf-8", b"404 page not found\n")


def test_raw_answers_reach_the_client_as_they_are(sock: Path) -> None:
    with pytest.raises(PluginError, match="the answer is not JSON: b'<html>surprise</html>'"):
        client(sock).call("NetworkDriver.Leave", {})
    with pytest.raises(PluginError, match=r"the answer is not a JSON object: b'\[1, 2, 3\]'"):
        client(sock).call("NetworkDriver.DeleteEndpoint", {})
    status, content_type, body = post(sock, "NetworkDriver.Leave", b"{}")
    assert (status, content_type, body) == (200, None, b"<html>surprise</html>")


def test_the_wire_format(sock: Path) -> None:
    assert post(sock, "Plugin.Activate", b"") == (
        200, CONTENT_TYPE, b'{"Implements": ["NetworkDriver"]}\n')
    assert post(sock, "NetworkDriver.CreateNetwork", b"null\n")[2] == b'{"seen": {}}\n'
    assert json.loads(post(sock, "NetworkDriver.CreateNetwork", b"[1]")[2]) == {
        "Err": "sample: the request body must be a JSON object"}
    assert json.loads(post(sock, "NetworkDriver.CreateNetwork", b"{x")[2])["Err"].startswith(
        "sample: the request body is not JSON: ")
    assert post(sock, "Plugin.Activate", b"", method="GET")[0] == 405


def test_a_connection_is_kept_alive_and_takes_chunked_bodies(sock: Path) -> None:
    conn = _UnixHTTP(sock)
    try:
        for n in (1, 2):
            chunks = iter([b'{"n"', f": {n}}}".encode()])
            conn.request("POST", "/NetworkDriver.CreateNetwork", chunks,
                         {"Content-Type": CONTENT_TYPE}, encode_chunked=True)
            assert json.loads(conn.getresponse().read()) == {"seen": {"n": n}}
    finally:
        conn.close()


def test_importing_it_loads_nothing_of_the_emulator_but_itself() -> None:
    done = subprocess.run([sys.executable, "-c", (
        "import sys, emulator.pluginhttp;"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('emulator'))))")],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.split() == ["emulator", "emulator.errdefs", "emulator.pluginhttp"]
