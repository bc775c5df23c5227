"""The Engine API's HTTP layer, byte by byte over its Unix socket (fake fabric).

Framing is strict (a request not framed right never reaches a handler), every
client is bounded (body and head size, read and idle time, streams), idle
connections cost no thread, the API version is checked as dockerd checks it,
path parameters are URL-decoded, and an unexpected error is logged and answered
500 with the server's pointer to its log.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from served import connect, exchange, read_all, request, served, status_and_body

from emulator.api.router import Response, Router, RouteTable
from emulator.api.server import Limits

NETWORK = b'{"Name": "framed"}'


def network_names(host) -> list[str]:
    return [n.name for n in host.engine.networks.values()]


@pytest.fixture
def host(tmp_path):
    with served(tmp_path) as running:
        yield running


# -- framing ---------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    "Content-Length: -1\r\n",
    "Content-Length: 18\r\nContent-Length: 19\r\n",
    "Content-Length: 18, 19\r\n",
    "Content-Length: 0x12\r\n",
    "Transfer-Encoding: gzip\r\n",
], ids=["negative", "conflicting", "conflicting-list", "hex", "unknown-coding"])
def test_a_badly_framed_request_is_refused_and_never_executed(host, headers):
    raw = exchange(host.socket_path, b"POST /networks/create HTTP/1.1\r\nHost: docker\r\n"
                   + headers.encode() + b"Content-Type: application/json\r\n\r\n" + NETWORK)
    status, body = status_and_body(raw)
    assert status in (400, 501) and body["message"].startswith("bad HTTP request")
    assert "framed" not in network_names(host)
    assert host.api.ping()


def test_a_body_cut_short_is_never_executed(host):
    with connect(host.socket_path) as sock:
        sock.sendall(b"POST /networks/create HTTP/1.1\r\nHost: docker\r\n"
                     b"Content-Length: 100\r\n\r\n" + NETWORK)
        sock.shutdown(2)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:  # the server has had every chance to act on it
        assert "framed" not in network_names(host)
        time.sleep(0.05)
    assert host.api.ping()


def test_a_huge_content_length_is_413_without_reading_it(host):
    raw = exchange(host.socket_path, request("POST", "/networks/create",
                                             headers="Content-Length: 99999999999999999999\r\n"))
    status, body = status_and_body(raw)
    assert status == 413
    assert body["message"] == ("request body too large: 99999999999999999999 bytes, the limit "
                               f"is {Limits().max_body} bytes")
    assert host.api.ping()


def test_a_huge_chunk_is_413_once_past_the_limit(host):
    with connect(host.socket_path) as sock:
        sock.sendall(b"POST /networks/create HTTP/1.1\r\nHost: docker\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n")
        try:
            for _ in range(Limits().max_body // 65536 + 2):
                sock.sendall(b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _ = status_and_body(read_all(sock))
    assert status == 413
    assert host.api.ping()


def test_a_chunk_size_too_long_to_read_is_400(host):
    raw = exchange(host.socket_path, b"POST /networks/create HTTP/1.1\r\nHost: docker\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + b"F" * 100 + b"\r\n")
    assert status_and_body(raw)[0] == 400


def test_a_head_too_large_is_431(host):
    raw = exchange(host.socket_path, request("GET", "/_ping",
                                             headers=f"X-Big: {'y' * (70 << 10)}\r\n"))
    assert status_and_body(raw)[0] == 431


def test_requests_sent_back_to_back_are_answered_in_order(host):
    both = (b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
            + request("POST", "/networks/create", NETWORK))
    raw = exchange(host.socket_path, both)
    assert raw.count(b"HTTP/1.1 200 OK") == 1 and raw.count(b"HTTP/1.1 201 Created") == 1
    assert raw.index(b"200 OK") < raw.index(b"201 Created")
    assert "framed" in network_names(host)


# -- limits -----------------------------------------------------------------------------

def test_idle_connections_cost_no_thread(host):
    """Finding 4: 2,000 idle connections were 2,003 threads."""
    before = threading.active_count()
    idle = [connect(host.socket_path) for _ in range(300)]
    try:
        time.sleep(0.2)
        assert threading.active_count() == before
        assert host.api.ping()
        assert [n["Name"] for n in host.get("/networks").json()] == ["none", "host", "bridge"]
    finally:
        for sock in idle:
            sock.close()


def test_an_idle_connection_is_closed_after_the_idle_timeout(tmp_path):
    with served(tmp_path, Limits(idle_timeout=0.5)) as host, connect(host.socket_path) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""
        assert 0.4 < time.monotonic() - started < 3


def test_a_request_sent_too_slowly_is_408(tmp_path):
    with served(tmp_path, Limits(read_timeout=0.5)) as host, connect(host.socket_path) as sock:
        sock.sendall(b"POST /networks/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 50\r\n")
        status, body = status_and_body(read_all(sock))
    assert status == 408 and body["message"].startswith("timed out reading the request")
    assert network_names(host) == ["none", "host", "bridge"]


def test_at_the_connection_limit_the_oldest_idle_one_makes_room(tmp_path):
    with served(tmp_path, Limits(max_connections=4)) as host:
        idle = [connect(host.socket_path) for _ in range(4)]
        try:
            raw = exchange(host.socket_path, request("GET", "/_ping"))
            assert raw.startswith(b"HTTP/1.1 200 OK")
            assert idle[0].recv(1) == b""
        finally:
            for sock in idle:
                sock.close()


def test_streams_beyond_the_limit_are_503(tmp_path):
    with served(tmp_path, Limits(max_streams=1)) as host:
        container = host.engine.run_container("web", command=["sleep", "9"])
        with connect(host.socket_path) as waiting:
            waiting.sendall(request("POST", "/containers/web/wait"))
            assert waiting.recv(12) == b"HTTP/1.1 200"
            status, body = status_and_body(exchange(host.socket_path,
                                                    request("POST", "/containers/web/wait")))
            assert status == 503 and body["message"].startswith("too many streaming requests")
            host.processes.end(container, 3)
            assert b'{"StatusCode": 3}' in read_all(waiting)
        assert host.api.ping()


# -- versions and paths -------------------------------------------------------------

@pytest.mark.parametrize(("prefix", "status", "message"), [
    ("/v9.99", 400, "client version 9.99 is too new. Maximum supported API version is 1.45"),
    ("/v1.46", 400, "client version 1.46 is too new. Maximum supported API version is 1.45"),
    ("/v0.1", 400, "client version 0.1 is too old. Minimum supported API version is 1.24, "
                   "please upgrade your client to a newer version"),
    ("/v1.23", 400, "client version 1.23 is too old. Minimum supported API version is 1.24, "
                    "please upgrade your client to a newer version"),
    ("/v1.24", 200, None),
    ("/v1.45", 200, None),
    ("", 200, None),
])
def test_the_api_version_is_checked_as_dockerd_checks_it(host, prefix, status, message):
    raw = exchange(host.socket_path, request("GET", f"{prefix}/networks"))
    got_status, body = status_and_body(raw)
    assert got_status == status
    if message is not None:
        assert body == {"message": message}


def test_a_path_dockerd_does_not_have_is_page_not_found(host):
    assert status_and_body(exchange(host.socket_path, request("GET", "/v1.45/nonsense"))) == (
        404, {"message": "page not found"})
    status, body = status_and_body(exchange(host.socket_path,
                                            request("POST", "/v1.45/secrets/create")))
    assert status == 501 and "not implemented by the cnm-emulator" in body["message"]


def test_path_parameters_are_url_decoded(host):
    """`docker network create 'my net'`, then inspect and remove it by that name."""
    created = host.post("/networks/create", {"Name": "my net"})
    assert created.status_code == 201
    shown = host.get("/networks/my%20net")
    assert shown.status_code == 200 and shown.json()["Id"] == created.json()["Id"]
    removed = host.api.delete(host.api._url("/networks/{0}", "my net"))
    assert removed.status_code == 204


# -- internal errors --------------------------------------------------------------------

def test_an_internal_error_is_logged_and_answered_with_the_log_hint(tmp_path, caplog):
    routes = RouteTable()

    @routes.add("GET", "/_ping")
    def broken(context, req) -> Response:
        raise RuntimeError("boom")

    with served(tmp_path, router=Router(routes, None), log_hint="see `cnm lab logs t1`") as host:
        with caplog.at_level(logging.ERROR, logger="emulator.api"):
            status, body = status_and_body(exchange(host.socket_path, request("GET", "/_ping")))
    assert (status, body) == (500, {"message": "internal error: RuntimeError: boom "
                                               "(see `cnm lab logs t1`)"})
    (record,) = [r for r in caplog.records if r.name == "emulator.api"]
    assert record.exc_info is not None and "GET /_ping" in record.getMessage()


def test_without_a_log_hint_the_500_has_no_pointer(tmp_path):
    routes = RouteTable()

    @routes.add("GET", "/_ping")
    def broken(context, req) -> Response:
        raise KeyError("k")

    with served(tmp_path, router=Router(routes, None)) as host:
        status, body = status_and_body(exchange(host.socket_path, request("GET", "/_ping")))
    assert (status, body) == (500, {"message": "internal error: KeyError: 'k'"})
