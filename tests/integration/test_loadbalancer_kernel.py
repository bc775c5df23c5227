"""Service load balancing on the real kernel (fabric/loadbalancer.py), judged by
connections: which server answers, what source address it saw, what a client gets
from a VIP without backends, and that nothing is held once a container goes."""

from __future__ import annotations

import time
from collections import Counter
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from leftovers import LabNamespaces
from netservers import PEER_SERVER

from emulator.fabric.base import IngressPort, IngressRules, VirtualServer
from emulator.fabric.loadbalancer import ruleset

GOLDEN = sorted((Path(__file__).resolve().parents[1] / "unit" / "golden"
                 / "loadbalancer").glob("*.nft"))
SUBNET = IPv4Network("10.77.0.0/24")
VIP = IPv4Address("10.77.0.250")  # in the subnet, given to no container
HOSTNAME_SERVER = ["busybox", "nc", "-ll", "-p", "80", "-e", "hostname"]
CONNECT = """
import errno, socket, sys
address, port, count, udp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == 'udp'
for _ in range(count):
    try:
        if udp:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(5)
                s.sendto(b'?', (address, port))
                print(s.recv(512).decode().strip())
            continue
        with socket.create_connection((address, port), timeout=10) as s:
            data = b''
            while chunk := s.recv(256):
                data += chunk
        print(data.decode().strip() or 'empty')
    except OSError as exc:
        print(errno.errorcode.get(exc.errno, str(exc)) if exc.errno else str(exc))
"""
"""Makes `count` connections (or UDP exchanges, each from a new port) and prints what
each got: the server's answer, or the error's name."""


def sandbox_of(host, container):
    return host.engine.get_container(container.id).sandbox


def connect(client, address, port: int, count: int, protocol: str = "tcp") -> list[str]:
    done = client.exec(["python3", "-c", CONNECT, str(address), str(port), str(count),
                        protocol], timeout=60)
    assert done.exit_code == 0, done.stderr
    return done.stdout.split("\n")[:-1]


def wait_listening(container, port: int, protocol: str = "tcp", timeout: float = 10.0) -> None:
    """Until the container's kernel has a socket bound to `port` (listening, for TCP),
    IPv4 or dual-stack (busybox nc listens on ::)."""
    suffix = f":{port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        both = container.exec(["cat", f"/proc/net/{protocol}", f"/proc/net/{protocol}6"])
        table = [line for line in both.stdout.splitlines() if not line.lstrip().startswith("sl")]
        if any(f[1].endswith(suffix) and (protocol == "udp" or f[3] == "0A")
               for f in (line.split() for line in table)):
            return
    raise AssertionError(f"{container.name} does not listen on {protocol} {port}")


def servers(h1, network: str, names: list[str], command: list[str]) -> list:
    started = [h1.containers.run(name, network=network, hostname=name, command=command)
               for name in names]
    for server in started:
        wait_listening(server, 80)
    return started


@pytest.fixture
def scratch(h1):
    """A container with no network: a namespace of the lab's with nothing in it."""
    return h1.containers.run("lbscratch", network="none")


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_a_golden_table_is_what_nft_lists_once_loaded(scratch, path: Path) -> None:
    assert scratch.exec(["nft", "-f", str(path)], privileged=True).exit_code == 0
    listed = scratch.exec(["nft", "list", "table", "ip", "service_lb"], privileged=True).stdout
    assert listed == path.read_text()


def balancer(h1, network: str = "lbnet"):
    """A container standing for a node's lb-NET sandbox, its program function and address."""
    lb = h1.containers.run("lbsb", network=network)
    fabric, sandbox = h1.engine.fabric, sandbox_of(h1, lb)
    source = lb.ip()

    def program(*servers: VirtualServer) -> None:
        fabric.program_load_balancer(sandbox, servers, IngressRules(source, SUBNET, ()))

    return lb, program, source


def test_connections_to_a_vip_are_balanced_round_robin_from_the_balancer(h1) -> None:
    """Clients reach the VIP held by the balancing sandbox; the servers answer in turn
    and see the balancer's address, as tasks see their node's lb-NET address."""
    h1.networks.create("lbnet", subnet=str(SUBNET))
    s1, s2, s3 = servers(h1, "lbnet", ["s1", "s2", "s3"], ["python3", "-c", PEER_SERVER])
    lb, program, source = balancer(h1)
    client = h1.containers.run("lbclient", network="lbnet")

    program(VirtualServer(VIP, (s1.ip(), s2.ip(), s3.ip())))
    assert Counter(connect(client, VIP, 80, 6)) == {
        f"s1 {source}": 2, f"s2 {source}": 2, f"s3 {source}": 2}
    listed = lb.exec(["nft", "list", "table", "ip", "service_lb"], privileged=True).stdout
    assert listed == ruleset((VirtualServer(VIP, (s1.ip(), s2.ip(), s3.ip())),),
                             IngressRules(source, SUBNET, ()))
    assert f"{VIP}/32" in lb.exec(["ip", "-4", "addr", "show"]).stdout
    ping = client.exec(["ping", "-c", "1", "-W", "2", str(VIP)])
    assert ping.exit_code == 0 and f"from {VIP}:" in ping.stdout  # answered for the VIP
    assert lb.exec(["cat", "/proc/sys/net/ipv4/conf/all/send_redirects"]).stdout.strip() == "0"

    program(VirtualServer(VIP, (s1.ip(), s3.ip())))
    assert Counter(connect(client, VIP, 80, 6)) == {f"s1 {source}": 3, f"s3 {source}": 3}
    client_ip = client.ip()
    assert connect(client, s2.ip(), 80, 1) == [f"s2 {client_ip}"], "the server still answers"


def test_a_vip_without_backends_is_unreachable_as_in_docker(h1) -> None:
    h1.networks.create("lbnet", subnet=str(SUBNET))
    (s1,) = servers(h1, "lbnet", ["s1"], HOSTNAME_SERVER)
    lb, program, _ = balancer(h1)
    client = h1.containers.run("lbclient", network="lbnet")
    program(VirtualServer(VIP, (s1.ip(),)))
    assert connect(client, VIP, 80, 1) == ["s1"]

    program(VirtualServer(VIP, ()))
    assert connect(client, VIP, 80, 1) == ["EHOSTUNREACH"]
    assert client.exec(["ping", "-c", "1", "-W", "1", str(VIP)]).exit_code != 0
    assert "service_lb" not in lb.exec(["nft", "list", "tables"], privileged=True).stdout
    assert f"{VIP}/32" not in lb.exec(["ip", "-4", "addr", "show"]).stdout

    program(VirtualServer(VIP, (s1.ip(),)))
    assert connect(client, VIP, 80, 1) == ["s1"]
    program()
    assert "service_lb" not in lb.exec(["nft", "list", "tables"], privileged=True).stdout
    assert f"{VIP}/32" not in lb.exec(["ip", "-4", "addr", "show"]).stdout


def test_the_ingress_sandbox_balances_published_ports_with_its_own_source(h1) -> None:
    """A client reaches the ingress sandbox's published ports; the tasks behind it, on
    another network, answer in turn and see the sandbox's address, not the client's."""
    h1.networks.create("lbfront", subnet="10.78.0.0/24")
    h1.networks.create("lbmesh", subnet="10.79.0.0/24")
    sbox = h1.containers.run("lbsbox", networks=["lbfront", "lbmesh"])
    p1, p2 = servers(h1, "lbmesh", ["p1", "p2"], ["python3", "-c", PEER_SERVER])
    for server in (p1, p2):
        wait_listening(server, 53, "udp")
    client = h1.containers.run("lbclient", network="lbfront")
    source = sbox.ip("lbmesh")
    tasks = (p1.ip(), p2.ip())
    h1.engine.fabric.program_load_balancer(sandbox_of(h1, sbox), (), IngressRules(
        source, IPv4Network("10.79.0.0/24"),
        (IngressPort("tcp", 8080, 80, tasks), IngressPort("udp", 5353, 53, tasks))))

    entry = sbox.ip("lbfront")
    assert Counter(connect(client, entry, 8080, 4)) == {f"p1 {source}": 2, f"p2 {source}": 2}
    assert Counter(connect(client, entry, 5353, 4, "udp")) == {f"p1 {source}": 2,
                                                               f"p2 {source}": 2}
    assert sbox.exec(["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "1"


def test_a_removed_container_leaves_no_namespace_held(h1) -> None:
    h1.networks.create("lbnet", subnet=str(SUBNET))
    lb, program, _ = balancer(h1)
    program(VirtualServer(VIP, (IPv4Address("10.77.0.100"),)))
    held = LabNamespaces([f"/proc/{lb.pid}/ns/net"])
    assert len(held) == 1
    lb.remove(force=True)
    deadline = time.monotonic() + 10
    while held.still_used() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not held.still_used()
