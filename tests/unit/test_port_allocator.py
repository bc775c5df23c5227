"""The host port allocator (libnetwork's portallocator) and `-p` spec parsing
(go-connections' nat.ParsePortSpec), as a user of `docker run -p` meets them."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.drivers.portallocator import ANY, PortAllocator
from emulator.drivers.portmapping import (
    ExposedPort,
    PortBinding,
    parse_port_spec,
    port_options,
    port_specs_to_api,
)

LOOPBACK = IPv4Address("127.0.0.1")
LAN = IPv4Address("192.168.100.11")


def test_an_exact_port_is_taken_once_per_protocol() -> None:
    ports = PortAllocator()
    assert ports.request(ANY, "tcp", 8080, 8080) == 8080
    assert ports.request(ANY, "udp", 8080, 8080) == 8080
    with docker_error(err.Forbidden, 403, "Bind for 0.0.0.0:8080 failed: port is already "
                      "allocated"):
        ports.request(ANY, "tcp", 8080, 8080)
    ports.release(ANY, "tcp", 8080)
    assert ports.request(ANY, "tcp", 8080, 8080) == 8080


def test_any_address_and_one_address_exclude_each_other_but_two_addresses_do_not() -> None:
    ports = PortAllocator()
    ports.request(LOOPBACK, "tcp", 8080, 8080)
    assert ports.request(LAN, "tcp", 8080, 8080) == 8080
    with docker_error(err.Forbidden, 403, "Bind for 127.0.0.1:8080 failed: port is already "
                      "allocated"):
        ports.request(ANY, "tcp", 8080, 8080)
    ports.request(ANY, "tcp", 9090, 9090)
    with docker_error(err.Forbidden, 403, "Bind for 0.0.0.0:9090 failed: port is already "
                      "allocated"):
        ports.request(LOOPBACK, "tcp", 9090, 9090)


def test_any_port_comes_from_the_local_range_in_turn_and_wraps() -> None:
    ports = PortAllocator((40000, 40002))
    assert [ports.request(ANY, "tcp") for _ in range(3)] == [40000, 40001, 40002]
    with docker_error(err.Forbidden, 403, "all ports are allocated"):
        ports.request(ANY, "tcp")
    ports.release(ANY, "tcp", 40001)
    assert ports.request(ANY, "tcp") == 40001
    assert ports.request(ANY, "udp") == 40000


def test_a_range_gives_its_first_free_port_and_skips_taken_ones() -> None:
    ports = PortAllocator()
    ports.request(ANY, "tcp", 8001, 8001)
    assert ports.request(ANY, "tcp", 8000, 8002) == 8000
    assert ports.request(ANY, "tcp", 8000, 8002) == 8002
    with docker_error(err.Forbidden, 403, "all ports are allocated"):
        ports.request(ANY, "tcp", 8000, 8002)
    assert ports.held() == [("0.0.0.0", "tcp", 8000), ("0.0.0.0", "tcp", 8001),
                            ("0.0.0.0", "tcp", 8002)]


@pytest.mark.parametrize(("spec", "expected"), [
    ("80", [(ExposedPort(80), "", "")]),
    ("8080:80", [(ExposedPort(80), "", "8080")]),
    ("127.0.0.1:8080:80/udp", [(ExposedPort(80, "udp"), "127.0.0.1", "8080")]),
    ("127.0.0.1::80", [(ExposedPort(80), "127.0.0.1", "")]),
    ("8000-8001:80-81/sctp", [(ExposedPort(80, "sctp"), "", "8000"),
                              (ExposedPort(81, "sctp"), "", "8001")]),
    ("8000-8010:80", [(ExposedPort(80), "", "8000-8010")]),
    ("[::1]:8080:80", [(ExposedPort(80), "::1", "8080")]),
])
def test_port_specs_as_the_docker_cli_reads_them(spec: str, expected) -> None:
    assert parse_port_spec(spec) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("abc", "invalid containerPort: abc"),
    ("x:80", "invalid hostPort: x"),
    ("70000:80", "invalid hostPort: 70000"),
    ("8080:", "no port specified: 8080:<empty>"),
    ("1.2.3:8080:80", "invalid IP address: 1.2.3"),
    ("80/icmp", "invalid proto: icmp"),
    ("8000-8002:80-81", "invalid ranges specified for container and host Ports: 80-81 and "
                        "8000-8002"),
])
def test_bad_port_specs_get_the_docker_cli_text(spec: str, message: str) -> None:
    with docker_error(err.InvalidParameter, 400, message):
        parse_port_spec(spec)


def test_a_create_request_s_ports_and_publish_all() -> None:
    exposed, bindings = port_specs_to_api(["8080:80", "127.0.0.1::53/udp"])
    assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    options = port_options({**exposed, "443/tcp": {}}, bindings, publish_all=True)
    assert options.exposed == (ExposedPort(53, "udp"), ExposedPort(80), ExposedPort(443))
    assert set(options.requested()) == {PortBinding("tcp", 80, None, 8080, 8080),
                                        PortBinding("udp", 53, LOOPBACK, 0, 0),
                                        PortBinding("tcp", 443)}
    assert port_options(exposed, bindings, publish_all=False).requested() == options.bindings


@pytest.mark.parametrize(("bindings", "message"), [
    ({"http/tcp": []}, 'invalid port specification: "http"'),
    ({"80/tcp": [{"HostIp": "", "HostPort": "80000"}]}, 'invalid port specification: "80000"'),
])
def test_bad_port_maps_get_dockerd_s_text(bindings, message: str) -> None:
    with docker_error(err.InvalidParameter, 400, message):
        port_options(None, bindings, publish_all=False)
