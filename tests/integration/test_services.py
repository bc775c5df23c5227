"""Swarm services on the real kernel, judged by connections: which replica answers,
from which node, the source address a task sees, what DNS answers, and what is left
once a service goes.

A 3-host swarm (h1 manager, h2 and h3 workers) with the attachable overlay `app`.
Connections to published ports come from the lab's `outside` host; connections to
VIPs from a client container on `app`.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from ipaddress import IPv4Address

import pytest

from emulator import Lab
from emulator.cnm.engine import AttachRequest, NetworkRequest
from emulator.cnm.services import Orchestrator
from emulator.swarm.services import DNSRR, HOST_MODE, NetworkAttachment, PortConfig, ServiceSpec

TOPOLOGY = """name: services
underlay: {subnet: 192.0.2.0/24}
outside: {address: 192.0.2.254}
hosts: {h1: {}, h2: {}, h3: {}}
"""
NODES = ("h1", "h2", "h3")
HOSTNAME = ("nc", "-ll", "-p", "80", "-e", "hostname")
PEER_SERVER = ("python3", "-c", """
import socket
name = socket.gethostname()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(('', 80))
t.listen(64)
while True:
    c, peer = t.accept()
    c.sendall(f'{name} {peer[0]}'.encode())
    c.close()
""")
"""Answers each connection with its hostname and the source address it saw."""


@pytest.fixture(scope="module")
def swarm(tmp_path_factory):
    path = tmp_path_factory.mktemp("services") / "three.yaml"
    path.write_text(TOPOLOGY)
    with Lab.load(path, "sv" + secrets.token_hex(3)) as lab:
        manager = lab.host("h1").engine
        manager.swarm_init()
        token = manager.swarm_join_token("worker")
        for name in NODES[1:]:
            lab.host(name).engine.swarm_join([f"{lab.host('h1').address}:2377"], token)
        manager.create_network(NetworkRequest("app", "overlay", attachable=True))
        Orchestrator.of(manager.swarm).restart_delay = 0.5
        yield lab


@pytest.fixture
def h1(swarm):
    engine = swarm.host("h1").engine
    yield engine
    for service in engine.list_services():
        engine.remove_service(service.id)
    engine.remove_containers([c.id for c in engine.list_containers(all=True)], force=True)


def engine_of(swarm, host: str):
    return swarm.host(host).engine


def wait_until(condition, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def listening(swarm, engine) -> None:
    """Until every task of every service listens on port 80."""
    for task in engine.list_tasks():
        if task.state != "running":
            continue
        node = engine_of(swarm, task.host)
        wait_until(lambda node=node, task=task: ":0050 " in node.exec(
            task.container_id, ["cat", "/proc/net/tcp", "/proc/net/tcp6"]).stdout,
            what=f"task {task.slot} listening")


def hostnames(swarm, engine) -> dict[str, str]:
    """Task container hostname -> node, for the running tasks."""
    return {engine_of(swarm, t.host).get_container(t.container_id).hostname: t.host
            for t in engine.list_tasks() if t.state == "running"}


def from_outside(swarm, address, port: int, count: int) -> list[str]:
    answers = []
    for _ in range(count):
        code, out = swarm.outside_exec(["busybox", "nc", "-w", "3", str(address), str(port)])
        answers.append(out.strip() if code == 0 and out.strip() else f"failed ({code})")
    return answers


def ingress_sandbox_address(swarm, host: str) -> IPv4Address:
    engine = engine_of(swarm, host)
    ingress = engine.get_network("ingress")
    endpoint = next(ep for ep in ingress.endpoints.values() if ep.container_id == "ingress-sbox")
    assert endpoint.name == "ingress-endpoint"
    return endpoint.address.ip


def test_the_routing_mesh_reaches_every_replica_from_every_node(swarm, h1) -> None:
    h1.create_service(ServiceSpec("web", "alpine", HOSTNAME, replicas=3,
                                  ports=(PortConfig(80, 8080),)))
    listening(swarm, h1)
    replicas = hostnames(swarm, h1)
    assert sorted(replicas.values()) == ["h1", "h2", "h3"]
    for node in NODES:
        answers = from_outside(swarm, swarm.host(node).address, 8080, 6)
        assert Counter(answers) == {name: 2 for name in replicas}, node


def test_a_task_sees_the_entry_nodes_ingress_sandbox_not_the_client(swarm, h1) -> None:
    h1.create_service(ServiceSpec("peer", "python", PEER_SERVER, replicas=1,
                                  ports=(PortConfig(80, 8081),)))
    listening(swarm, h1)
    for node in NODES:
        [answer] = from_outside(swarm, swarm.host(node).address, 8081, 1)
        _, source = answer.split()
        assert IPv4Address(source) == ingress_sandbox_address(swarm, node)
        assert IPv4Address(source) != swarm.outside_address


def test_names_resolve_and_the_vip_is_balanced_from_the_nodes_lb_sandbox(swarm, h1) -> None:
    service, _ = h1.create_service(ServiceSpec("api", "python", PEER_SERVER, replicas=3,
                                               networks=(NetworkAttachment("app"),)))
    listening(swarm, h1)
    app = h1.get_network("app")
    vip = service.vips[app.id].ip
    client = h1.create_container("client", [AttachRequest("app")], command=["sleep", "1d"],
                                 image="alpine")
    h1.start_container(client.id)
    named = h1.exec("client", ["nslookup", "api", "127.0.0.11"]).stdout
    assert f"Address: {vip}" in named
    tasks = {t.addresses[app.id].ip for t in h1.list_tasks() if t.state == "running"}
    listed = h1.exec("client", ["nslookup", "tasks.api", "127.0.0.11"]).stdout
    assert {IPv4Address(line.split()[-1]) for line in listed.splitlines()
            if line.startswith("Address:") and "#" not in line and ":53" not in line} == tasks
    lb = next(ep for ep in app.endpoints.values() if ep.container_id == "lb-app")
    assert lb.name == "app-endpoint"
    answers = [h1.exec("client", ["nc", "-w", "3", str(vip), "80"]).stdout.split()
               for _ in range(6)]
    assert Counter(name for name, _ in answers) == {name: 2 for name in hostnames(swarm, h1)}
    assert {IPv4Address(source) for _, source in answers} == {lb.address.ip}
    assert h1.exec("client", ["ping", "-c", "1", "-W", "2", str(vip)]).exit_code == 0


def test_dnsrr_names_give_the_tasks(swarm, h1) -> None:
    h1.create_service(ServiceSpec("rr", "alpine", ("sleep", "1d"), replicas=2,
                                  networks=(NetworkAttachment("app"),), endpoint_mode=DNSRR))
    client = h1.create_container("client", [AttachRequest("app")], command=["sleep", "1d"],
                                 image="alpine")
    h1.start_container(client.id)
    app = h1.get_network("app")
    tasks = {str(t.addresses[app.id].ip) for t in h1.list_tasks()}
    answer = h1.exec("client", ["nslookup", "rr", "127.0.0.11"]).stdout
    assert {a for a in tasks if f"Address: {a}" in answer} == tasks


def test_a_removed_task_leaves_the_balancer_and_its_slot_is_refilled(swarm, h1) -> None:
    h1.create_service(ServiceSpec("web", "alpine", HOSTNAME, replicas=3,
                                  ports=(PortConfig(80, 8080),)))
    listening(swarm, h1)
    victim = next(t for t in h1.list_tasks() if t.host == "h2")
    gone = engine_of(swarm, "h2").get_container(victim.container_id).hostname
    engine_of(swarm, "h2").remove_container(victim.container_id, force=True)
    wait_until(lambda: h1.get_task(victim.id).state == "failed", what="the task failed")
    answers = from_outside(swarm, swarm.host("h1").address, 8080, 6)
    assert gone not in answers and all(not a.startswith("failed") for a in answers)
    wait_until(lambda: sum(t.state == "running" for t in h1.list_tasks()) == 3,
               what="the slot refilled")
    assert h1.get_task(victim.id).error == "task: non-zero exit (137)"


def test_host_mode_publishes_only_where_a_task_runs(swarm, h1) -> None:
    h1.create_service(ServiceSpec("direct", "python", PEER_SERVER, replicas=1,
                                  ports=(PortConfig(80, 8082, mode=HOST_MODE),)))
    listening(swarm, h1)
    [task] = h1.list_tasks()
    for node in NODES:
        [answer] = from_outside(swarm, swarm.host(node).address, 8082, 1)
        if node == task.host:
            assert answer.split()[1] == str(swarm.outside_address)  # the client's address
        else:
            assert answer.startswith("failed")


def test_removing_a_service_leaves_no_rule_namespace_or_link(swarm, h1) -> None:
    def state(node: str) -> tuple:
        engine = engine_of(swarm, node)
        _, links = swarm.node_exec(node, ["ip", "-o", "link", "show"])
        _, rules = swarm.node_exec(node, ["nft", "list", "ruleset"])
        sandbox = engine._state.containers["ingress-sbox"].sandbox
        inside = engine.fabric.exec(sandbox, ["nft", "list", "ruleset"]).stdout
        addresses = engine.fabric.exec(sandbox, ["ip", "-o", "-4", "addr"]).stdout
        return (sorted(line.split(":")[1] for line in links.splitlines()), rules, inside,
                addresses, sorted(c.id for c in engine._state.containers.values()))

    before = {node: state(node) for node in NODES}
    service, _ = h1.create_service(ServiceSpec(
        "web", "alpine", HOSTNAME, replicas=3, networks=(NetworkAttachment("app"),),
        ports=(PortConfig(80, 8080),)))
    listening(swarm, h1)
    pids = [engine_of(swarm, t.host).get_container(t.container_id).pid
            for t in h1.list_tasks()]
    assert all(state(node) != before[node] for node in NODES)
    h1.remove_service(service.id)
    assert {node: state(node) for node in NODES} == before
    for pid in pids:
        wait_until(lambda pid=pid: not _alive(pid), what=f"task process {pid} gone")
    assert from_outside(swarm, swarm.host("h1").address, 8080, 1)[0].startswith("failed")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
