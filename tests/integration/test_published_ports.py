"""Published ports (`docker run -p/-P`) on an emulated host, driven by the real docker
CLI, checked with real connections: from `outside`, from the Docker host itself
(its LAN address and 127.0.0.1), from containers (hairpin, other networks) and
from another Docker host. The container answers each connection with the address
it sees the connection come from, which shows where Docker masquerades."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import lab_name, run_cnm

from emulator import Lab

DOCKER = shutil.which("docker") or "docker"
pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")

SERVER = (
    "import socket, sys\n"
    "kind = socket.SOCK_DGRAM if sys.argv[2] == 'udp' else socket.SOCK_STREAM\n"
    "s = socket.socket(socket.AF_INET, kind)\n"
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1])))\n"
    "if kind == socket.SOCK_DGRAM:\n"
    "    while True:\n"
    "        data, peer = s.recvfrom(100); s.sendto(peer[0].encode(), peer)\n"
    "s.listen(64)\n"
    "while True:\n"
    "    c, peer = s.accept(); c.sendall(peer[0].encode()); c.close()\n"
)
"""Answers each TCP connection or UDP datagram with the source address it came from."""

CLIENT = (
    "import socket, sys\n"
    "udp = sys.argv[3] == 'udp'\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)\n"
    "s.settimeout(2.0)\n"
    "try:\n"
    "    s.connect((sys.argv[1], int(sys.argv[2])))\n"
    "    if udp: s.send(b'hi')\n"
    "    print('seen-as', s.recv(100).decode())\n"
    "except ConnectionRefusedError: print('refused')\n"
    "except OSError as exc: print('blocked', exc)\n"
)
"""Prints `seen-as ADDRESS`, `refused` (an RST or ICMP unreachable) or `blocked`."""

BOUND = (
    "import socket, sys\n"
    "kind = socket.SOCK_DGRAM if sys.argv[2] == 'udp' else socket.SOCK_STREAM\n"
    "try:\n"
    "    socket.socket(socket.AF_INET, kind).bind(('0.0.0.0', int(sys.argv[1])))\n"
    "except OSError: sys.exit(0)\n"
    "sys.exit(1)\n"
)
"""Exits 0 once the port is bound in the container (a second bind fails)."""


@pytest.fixture(scope="module")
def lab():
    with Lab.default("po" + lab_name()[1:]) as running:
        yield running


@pytest.fixture(scope="module")
def env(lab, tmp_path_factory):
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    base["DOCKER_CONFIG"] = str(tmp_path_factory.mktemp("docker-config"))
    base["DOCKER_CLI_HINTS"] = "false"
    return base


def cli(lab, env, host: str):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=60,
                              env={**env, "DOCKER_HOST": lab.docker_host_url(host)})
    return run


@pytest.fixture
def docker(lab, env):
    run = cli(lab, env, "h1")
    yield run
    ids = run("ps", "-aq").stdout.split()
    if ids:
        run("rm", "-f", *ids)
    for name in run("network", "ls", "--filter", "type=custom", "-q").stdout.split():
        run("network", "rm", name)


@pytest.fixture
def docker2(lab, env):
    run = cli(lab, env, "h2")
    yield run
    ids = run("ps", "-aq").stdout.split()
    if ids:
        run("rm", "-f", *ids)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def serve(docker, name: str, *options: str, port: int = 80, proto: str = "tcp") -> None:
    ok(docker("run", "-d", "--name", name, *options, "python",
              "python3", "-c", SERVER, str(port), proto))
    for _ in range(100):  # the server is up once its port is taken
        if docker("exec", name, "python3", "-c", BOUND, str(port), proto).returncode == 0:
            return
    raise AssertionError(f"{name} never listened on {port}")


def from_outside(lab, address, port: int, proto: str = "tcp") -> str:
    return lab.outside_exec(["python3", "-c", CLIENT, str(address), str(port), proto])[1].strip()


def from_host(lab, host: str, address, port: int, proto: str = "tcp") -> str:
    return lab.host(host).exec(["python3", "-c", CLIENT, str(address), str(port),
                                proto]).stdout.strip()


def from_container(docker, name: str, address, port: int, proto: str = "tcp") -> str:
    return docker("exec", name, "python3", "-c", CLIENT, str(address), str(port),
                  proto).stdout.strip()


def ip_of(docker, container: str) -> str:
    return ok(docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                     container)).strip()


def gateway(docker, network: str = "bridge") -> str:
    return ok(docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}",
                     network)).strip()


def test_a_published_port_is_shown_and_reached_as_docker_reaches_it(lab, docker,
                                                                     docker2) -> None:
    h1 = lab.host("h1").address
    serve(docker, "web", "-p", "8080:80")
    assert ok(docker("port", "web")) == "80/tcp -> 0.0.0.0:8080\n"
    assert ok(docker("port", "web", "80")) == "0.0.0.0:8080\n"
    assert ok(docker("ps", "--format", "{{.Names}} {{.Ports}}")) == (
        "web 0.0.0.0:8080->80/tcp\n")
    assert ok(docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", "web")) == (
        '{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}\n')

    # from other hosts: DNAT, the client's own address seen
    assert from_outside(lab, h1, 8080) == f"seen-as {lab.outside_address}"
    serve(docker2, "client2")
    assert from_container(docker2, "client2", h1, 8080) == f"seen-as {lab.host('h2').address}"
    # from the host itself: its LAN address as is, its loopback through "the proxy"
    assert from_host(lab, "h1", h1, 8080) == f"seen-as {h1}"
    assert from_host(lab, "h1", "127.0.0.1", 8080) == f"seen-as {gateway(docker)}"
    # from a container on the same bridge (and the container itself): hairpin, as
    # docker-proxy makes it, from the gateway
    serve(docker, "neighbour", port=81)
    assert from_container(docker, "neighbour", h1, 8080) == f"seen-as {gateway(docker)}"
    assert from_container(docker, "neighbour", gateway(docker), 8080) == (
        f"seen-as {gateway(docker)}")
    assert from_container(docker, "web", h1, 8080) == f"seen-as {gateway(docker)}"
    # from a container on another network too: the proxy answers it, not the isolation
    ok(docker("network", "create", "other"))
    serve(docker, "stranger", "--network", "other", port=81)
    assert from_container(docker, "stranger", h1, 8080) == f"seen-as {gateway(docker)}"
    assert from_container(docker, "stranger", gateway(docker, "other"), 8080) == (
        f"seen-as {gateway(docker)}")
    assert from_container(docker, "stranger", ip_of(docker, "web"), 80).startswith("blocked")
    # an unpublished port of the host stays closed
    assert from_outside(lab, h1, 8081) == "refused"


def test_a_port_published_on_loopback_is_reached_only_from_the_host(lab, docker) -> None:
    h1 = lab.host("h1").address
    serve(docker, "local", "-p", "127.0.0.1:8082:80")
    assert ok(docker("port", "local")) == "80/tcp -> 127.0.0.1:8082\n"
    assert ok(docker("ps", "--format", "{{.Ports}}")) == "127.0.0.1:8082->80/tcp\n"
    assert from_outside(lab, h1, 8082) == "refused"
    assert from_host(lab, "h1", h1, 8082) == "refused"
    assert from_host(lab, "h1", "127.0.0.1", 8082) == f"seen-as {gateway(docker)}"


def test_udp_is_published_too(lab, docker) -> None:
    serve(docker, "dns", "-p", "5353:53/udp", port=53, proto="udp")
    assert ok(docker("port", "dns")) == "53/udp -> 0.0.0.0:5353\n"
    answer = from_outside(lab, lab.host("h1").address, 5353, "udp")
    assert answer == f"seen-as {lab.outside_address}"


def test_ephemeral_ports_come_from_the_host_s_local_range(lab, docker) -> None:
    low, high = (int(v) for v in lab.host("h1").exec(
        ["cat", "/proc/sys/net/ipv4/ip_local_port_range"]).stdout.split())
    serve(docker, "anyport", "-p", "80")
    serve(docker, "all", "-P", "--expose", "80", "--expose", "90/udp")
    port = int(ok(docker("port", "anyport", "80")).rsplit(":", 1)[1])
    assert low <= port <= high
    assert from_outside(lab, lab.host("h1").address, port) == f"seen-as {lab.outside_address}"
    shown = ok(docker("port", "all")).splitlines()
    assert sorted(line.split(" -> ")[0] for line in shown) == ["80/tcp", "90/udp"]
    assert all(low <= int(line.rsplit(":", 1)[1]) <= high for line in shown)
    serve(docker, "exposed", "--expose", "7000", port=81)
    assert ok(docker("ps", "--filter", "name=exposed", "--format", "{{.Ports}}")) == (
        "7000/tcp\n")


def test_a_taken_port_is_refused_with_docker_s_text(lab, docker) -> None:
    serve(docker, "first", "-p", "8083:80")
    refused = docker("run", "-d", "--name", "second", "-p", "8083:80", "busybox", "sleep", "9")
    assert refused.returncode == 125
    assert "failed to set up container networking: driver failed programming external " \
           "connectivity on endpoint second (" in refused.stderr
    assert "): Bind for 0.0.0.0:8083 failed: port is already allocated\n" in refused.stderr
    invalid = docker("run", "-d", "-p", "80:abc", "busybox", "true")
    assert invalid.returncode == 125 and "invalid containerPort: abc" in invalid.stderr
    # the first still answers; once it is gone, the port is free and nothing DNATs it
    assert from_outside(lab, lab.host("h1").address, 8083) == f"seen-as {lab.outside_address}"
    ok(docker("rm", "-f", "first", "second"))
    assert from_outside(lab, lab.host("h1").address, 8083) == "refused"
    elements = lab.host("h1").exec(["nft", "list", "map", "inet", "cnm", "published_any"]).stdout
    assert "8083" not in elements
    ok(docker("run", "-d", "--name", "third", "-p", "8083:80", "busybox", "sleep", "9"))


def test_host_mode_discards_published_ports_with_docker_s_warning(lab, docker) -> None:
    run = docker("run", "-d", "--name", "hostmode", "--network", "host", "-p", "8084:80",
                 "busybox", "sleep", "30")
    assert run.returncode == 0, run.stderr
    assert "WARNING: Published ports are discarded when using host network mode" in run.stderr
    assert ok(docker("port", "hostmode")) == ""
    assert from_outside(lab, lab.host("h1").address, 8084) == "refused"


def test_cnm_exec_outside_reaches_a_published_port_by_the_docker_host_s_name(tmp_path):
    """The README's check, by name: lab nodes know each other's names (cnm exec gives
    them the lab's /etc/hosts) and the lab's DNS server (outside's dnsmasq)."""
    name = lab_name()
    up = run_cnm("lab", "up", "--name", name)
    assert up.returncode == 0, up.stderr
    try:
        env = {**os.environ, "DOCKER_HOST": f"unix:///run/cnm/{name}/h1.sock"}
        ran = subprocess.run(["docker", "run", "-d", "-p", "8080:80", "--name", "site",
                              "alpine", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"],
                             capture_output=True, text=True, env=env, timeout=60)
        assert ran.returncode == 0, ran.stderr
        head = run_cnm("exec", "--lab", name, "outside", "--", "curl", "-sI",
                       "--retry", "20", "--retry-connrefused", "--retry-delay", "0",
                       "h1:8080/hostname")
        assert head.stdout.startswith("HTTP/1.1 200 OK"), head.stdout + head.stderr
        named = run_cnm("exec", "--lab", name, "h2", "--", "getent", "hosts", "example.com")
        assert "example.com" in named.stdout
    finally:
        run_cnm("lab", "down", name)
