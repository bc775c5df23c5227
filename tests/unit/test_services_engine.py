"""Swarm services on FakeFabrics: three engines, one swarm, the orchestrator between them.

The oracle is dockerd 28 with swarmkit (controlapi, allocator, scheduler, restart
supervisor) and libnetwork's load-balancing sandboxes: texts and HTTP statuses are
compared byte for byte; what each node would have programmed is read back from its
FakeFabric.
"""

from __future__ import annotations

import time
from ipaddress import IPv4Address
from typing import cast

import pytest
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.cnm.services import Orchestrator
from emulator.fabric.base import TaskIngress
from emulator.fabric.fake import FakeFabric
from emulator.swarm.cluster import SwarmDirectory
from emulator.swarm.services import (
    DNSRR,
    HOST_MODE,
    NetworkAttachment,
    PortConfig,
    ServiceSpec,
)

MANAGER = "192.0.2.11:2377"
NOT_A_MANAGER = ("This node is not a swarm manager. Worker nodes can't be used to view or "
                 "modify cluster state. Please run this command on a manager node or promote "
                 "the current node to a manager.")


def fabric(engine: Engine) -> FakeFabric:
    return cast(FakeFabric, engine.fabric)


@pytest.fixture
def swarm():
    directory = SwarmDirectory()
    engines = [Engine(f"h{i}", FakeFabric(f"h{i}"), advertise=IPv4Address(f"192.0.2.{10 + i}"),
                      swarm_directory=directory) for i in (1, 2, 3)]
    h1, h2, h3 = engines
    h1.swarm_init()
    token = h1.swarm_join_token("worker")
    h2.swarm_join([MANAGER], token)
    h3.swarm_join([MANAGER], token)
    h1.create_network(NetworkRequest("app", "overlay", attachable=True))
    Orchestrator.of(h1.swarm).drain_delay = 0  # tests of draining set their own
    yield engines
    for engine in engines:
        engine.close()


def web(replicas: int = 3, **changes) -> ServiceSpec:
    fields = dict(name="web", image="alpine", command=("sleep", "1000"), replicas=replicas,
                  networks=(NetworkAttachment("app"),), ports=(PortConfig(80, 8080),))
    fields.update(changes)
    return ServiceSpec(**fields)  # type: ignore[arg-type]


def running(engine: Engine, service: str) -> list:
    return sorted((t for t in engine.list_tasks()
                   if t.service_id == engine.get_service(service).id and t.state == "running"),
                  key=lambda t: t.slot)


def wait_until(condition, timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def task_containers(engine: Engine) -> list[str]:
    return sorted(c.name for c in engine.list_containers(all=True)
                  if c.labels.get("com.docker.swarm.service.name"))


def test_tasks_spread_one_per_node_named_as_docker_names_them(swarm) -> None:
    h1, h2, h3 = swarm
    service, warnings = h1.create_service(web())
    assert warnings == []
    tasks = running(h1, "web")
    assert [t.slot for t in tasks] == [1, 2, 3]
    assert sorted(t.host for t in tasks) == ["h1", "h2", "h3"]
    for task in tasks:
        engine = {"h1": h1, "h2": h2, "h3": h3}[task.host]
        container = engine.get_container(f"web.{task.slot}.{task.id}")
        assert container.hostname == container.id[:12]
        assert container.labels == {
            "com.docker.swarm.node.id": engine.swarm_node.node_id,
            "com.docker.swarm.service.id": service.id,
            "com.docker.swarm.service.name": "web",
            "com.docker.swarm.task": "",
            "com.docker.swarm.task.id": task.id,
            "com.docker.swarm.task.name": f"web.{task.slot}.{task.id}"}
        ingress, app = h1.get_network("ingress").id, h1.get_network("app").id
        assert set(container.attachments) == {ingress, app}
        assert set(task.addresses) >= {ingress, app}


def test_five_replicas_on_three_nodes_are_two_two_one(swarm) -> None:
    h1, *_ = swarm
    h1.create_service(web(5))
    per_node: dict[str, int] = {}
    for task in running(h1, "web"):
        per_node[task.host] = per_node.get(task.host, 0) + 1
    assert sorted(per_node.values()) == [1, 2, 2]


def test_vips_on_the_service_network_and_ingress_and_a_published_port(swarm) -> None:
    h1, *_ = swarm
    service, _ = h1.create_service(web(1, ports=(PortConfig(80),)))
    app, ingress = h1.get_network("app"), h1.get_network("ingress")
    assert set(service.vips) == {app.id, ingress.id}
    assert service.vips[app.id].with_prefixlen == "10.0.1.2/24"
    assert service.ports == (PortConfig(80, 30000),)


def test_dnsrr_has_no_vip(swarm) -> None:
    h1, *_ = swarm
    service, _ = h1.create_service(web(2, ports=(), endpoint_mode=DNSRR))
    assert service.vips == {}


def test_every_node_balances_the_vip_in_its_lb_sandbox_over_every_task(swarm) -> None:
    h1, h2, h3 = swarm
    service, _ = h1.create_service(web())
    app = h1.get_network("app")
    vip = service.vips[app.id].ip
    backends = {t.addresses[app.id].ip for t in running(h1, "web")}
    for engine in swarm:
        lb = engine.get_network("app").endpoints
        own = next(ep for ep in lb.values() if ep.container_id == "lb-app")
        assert own.name == "app-endpoint"
        servers, rules = fabric(engine).load_balancers["lb-app"]
        assert [s.vip for s in servers] == [vip]
        assert set(servers[0].backends) == backends
        assert rules is not None and rules.source == own.address.ip and rules.ports == ()


def test_ingress_sandbox_balances_published_ports_and_tasks_redirect(swarm) -> None:
    h1, *_ = swarm
    h1.create_service(web())
    ingress = h1.get_network("ingress")
    task_ips = {t.addresses[ingress.id].ip for t in running(h1, "web")}
    for engine in swarm:
        sandbox = engine._state.containers["ingress-sbox"]
        own = sandbox.endpoints[ingress.id]
        assert own.name == "ingress-endpoint"
        gateway = next(ep for ep in sandbox.endpoints.values() if ep.network_id != ingress.id)
        assert gateway.name == "gateway_ingress-sbox"
        _, rules = fabric(engine).load_balancers["ingress-sbox"]
        assert rules.source == own.address.ip
        [port] = rules.ports
        assert (port.protocol, port.published, port.target) == ("tcp", 8080, 8080)
        assert set(port.backends) == task_ips
        published = engine.firewall.part("swarm-ingress").published
        assert [(p.host_port, p.container_ip, p.container_port) for p in published] == [
            (8080, gateway.address.ip, 8080)]
    for task in running(h1, "web"):
        engine = {e.host: e for e in swarm}[task.host]
        rules = fabric(engine).task_ingress[task.container_id]
        assert rules == TaskIngress(task.addresses[ingress.id].ip, (("tcp", 8080, 80),))


def test_service_names_resolve_to_the_vip_and_tasks_to_their_addresses(swarm) -> None:
    h1, h2, _ = swarm
    service, _ = h1.create_service(web())
    app = h1.get_network("app")
    records = h2.view().services[app.id]
    assert records["web"] == (service.vips[app.id].ip,)
    assert set(records["tasks.web"]) == {t.addresses[app.id].ip for t in running(h1, "web")}


def test_dnsrr_name_resolves_to_the_tasks(swarm) -> None:
    h1, *_ = swarm
    h1.create_service(web(2, ports=(), endpoint_mode=DNSRR,
                          networks=(NetworkAttachment("app", ("www",)),)))
    app = h1.get_network("app")
    records = h1.view().services[app.id]
    tasks = {t.addresses[app.id].ip for t in running(h1, "web")}
    assert set(records["web"]) == set(records["tasks.web"]) == tasks
    assert set(records["www"]) == set(records["tasks.www"]) == tasks


def test_scale_down_removes_tasks_and_their_backends(swarm) -> None:
    h1, *_ = swarm
    service, _ = h1.create_service(web())
    h1.scale_service("web", 1)
    assert [t.slot for t in running(h1, "web")] == [1]
    assert len(h1.list_tasks()) == 1
    assert sum(len(task_containers(e)) for e in swarm) == 1
    for engine in swarm:
        if "lb-app" in fabric(engine).load_balancers:
            servers, _ = fabric(engine).load_balancers["lb-app"]
            assert len(servers[0].backends) == 1


def test_scale_down_drains_before_it_stops_containers(swarm) -> None:
    """Docker's executor takes a task out of the balancers, waits, then stops it: for the
    drain delay the container still runs but no balancer sends it anything."""
    h1, *_ = swarm
    Orchestrator.of(h1.swarm).drain_delay = 0.2
    h1.create_service(web())
    h1.scale_service("web", 1)
    assert [t.slot for t in running(h1, "web") if t.desired_state == "running"] == [1]
    draining = [t for t in h1.list_tasks() if t.desired_state == "remove"]
    assert len(draining) == 2 and sum(len(task_containers(e)) for e in swarm) == 3
    for engine in swarm:
        if "lb-app" in fabric(engine).load_balancers:
            servers, _ = fabric(engine).load_balancers["lb-app"]
            assert len(servers[0].backends) == 1
    assert wait_until(lambda: sum(len(task_containers(e)) for e in swarm) == 1)
    assert wait_until(lambda: len(h1.list_tasks()) == 1)


def test_update_with_a_stale_version_is_out_of_sequence(swarm) -> None:
    h1, *_ = swarm
    service, _ = h1.create_service(web(1))
    version = service.version
    h1.update_service("web", version, web(2))
    with docker_error(err.DockerError, 500,
                      "rpc error: code = Unknown desc = update out of sequence"):
        h1.update_service("web", version, web(3))


def test_removing_the_service_leaves_nothing(swarm) -> None:
    h1, h2, h3 = swarm
    before = {e.host: (sorted(fabric(e).sandboxes), sorted(fabric(e).links),
                       e.firewall.ruleset()) for e in swarm}
    app = h1.get_network("app")
    free = h1.swarm.addresses.allocated_addresses(app.pool_id)
    h1.create_service(web())
    h1.remove_service("web")
    assert h1.list_services() == [] and h1.list_tasks() == []
    for engine in swarm:
        assert task_containers(engine) == []
        assert (sorted(fabric(engine).sandboxes), sorted(fabric(engine).links),
                engine.firewall.ruleset()) == before[engine.host]
        assert fabric(engine).load_balancers == {}
    assert h1.swarm.addresses.allocated_addresses(app.pool_id) == free


def test_a_removed_task_is_failed_and_its_slot_refilled(swarm) -> None:
    h1, *_ = swarm
    Orchestrator.of(h1.swarm).restart_delay = 0.05
    h1.create_service(web())
    victim = running(h1, "web")[1]
    engine = {e.host: e for e in swarm}[victim.host]
    engine.remove_container(victim.container_id, force=True)
    assert wait_until(lambda: any(t.slot == victim.slot and t.id != victim.id
                                  for t in running(h1, "web")))
    old = h1.get_task(victim.id)
    assert (old.state, old.desired_state, old.error) == (
        "failed", "shutdown", "task: non-zero exit (137)")
    assert len(running(h1, "web")) == 3


@pytest.mark.parametrize(("spec", "cls", "status", "message"), [
    (web(networks=(NetworkAttachment("nope"),)), err.DockerError, 500, "network nope not found"),
    (web(networks=(NetworkAttachment("bridge"),)), err.Forbidden, 403,
     "The network bridge cannot be used with services. Only networks scoped to the swarm can "
     "be used, such as those created with the overlay driver."),
    (web(networks=(NetworkAttachment("ingress"),)), err.InvalidParameter, 400,
     'rpc error: code = InvalidArgument desc = Service cannot be explicitly attached to the '
     'ingress network "ingress"'),
    (web(endpoint_mode=DNSRR), err.InvalidParameter, 400,
     "rpc error: code = InvalidArgument desc = EndpointSpec: port published with ingress mode "
     "can't be used with dnsrr mode"),
    (web(ports=(PortConfig(80, 8080), PortConfig(81, 8080))), err.InvalidParameter, 400,
     "rpc error: code = InvalidArgument desc = EndpointSpec: duplicate published ports "
     "provided"),
    (web(replicas=-1), err.InvalidParameter, 400,
     "rpc error: code = InvalidArgument desc = Number of replicas must be non-negative"),
])
def test_refusals_leave_nothing(swarm, spec, cls, status, message) -> None:
    h1, *_ = swarm
    with docker_error(cls, status, message):
        h1.create_service(spec)
    assert h1.list_services() == [] and h1.list_tasks() == []


def test_name_and_published_port_conflicts(swarm) -> None:
    h1, *_ = swarm
    service, _ = h1.create_service(web(1))
    with docker_error(err.Conflict, 409, "rpc error: code = AlreadyExists desc = name conflicts "
                      "with an existing object: service web already exists"):
        h1.create_service(web(1))
    with docker_error(err.InvalidParameter, 400,
                      "rpc error: code = InvalidArgument desc = port '8080' is already in use "
                      f"by service 'web' ({service.id}) as an ingress port"):
        h1.create_service(web(1, name="api"))


def test_workers_cannot_manage_services(swarm) -> None:
    _, h2, _ = swarm
    with docker_error(err.Unavailable, 503, NOT_A_MANAGER):
        h2.create_service(web())
    with docker_error(err.Unavailable, 503, NOT_A_MANAGER):
        h2.list_services()


def test_a_network_used_by_a_service_cannot_be_removed(swarm) -> None:
    h1, *_ = swarm
    service, _ = h1.create_service(web(0))
    app = h1.get_network("app")
    with docker_error(err.InvalidParameter, 400, "rpc error: code = FailedPrecondition desc = "
                      f"network {app.id} is in use by service {service.id}"):
        h1.remove_network("app")


def test_host_mode_ports_are_published_on_the_task_node_only(swarm) -> None:
    h1, *_ = swarm
    h1.create_service(web(1, ports=(PortConfig(80, 9090, mode=HOST_MODE),)))
    [task] = running(h1, "web")
    engine = {e.host: e for e in swarm}[task.host]
    container = engine.get_container(task.container_id)
    published = [b for ep in container.endpoints.values() for b in (ep.published or ())]
    assert [(b.port, b.host_port) for b in published] == [(80, 9090)]
    assert h1.get_network("ingress").id not in container.endpoints
    for other in swarm:
        assert "ingress-sbox" not in fabric(other).load_balancers


def test_the_lb_sandbox_comes_with_the_first_container_and_goes_with_the_last(swarm) -> None:
    h1, h2, _ = swarm
    assert "lb-app" not in fabric(h2).sandboxes
    c = h2.run_container("c1", [AttachRequest("app")])
    assert "lb-app" in fabric(h2).sandboxes
    lb = next(ep for ep in h2.get_network("app").endpoints.values()
              if ep.container_id == "lb-app")
    # as on Docker 20.10: the container's address first, the lb endpoint's the next
    assert lb.address.ip == c.endpoints[h2.get_network("app").id].address.ip + 1
    assert "lb-app" not in {x.name for x in h2.list_containers(all=True)}
    h2.remove_container("c1", force=True)
    assert "lb-app" not in fabric(h2).sandboxes


def test_leaving_the_swarm_takes_the_nodes_tasks_elsewhere(swarm) -> None:
    h1, h2, h3 = swarm
    Orchestrator.of(h1.swarm).restart_delay = 0.01
    h1.create_service(web())
    h3.swarm_leave()
    assert "ingress-sbox" not in fabric(h3).sandboxes and task_containers(h3) == []

    def moved() -> bool:
        tasks = running(h1, "web")
        return len(tasks) == 3 and {t.host for t in tasks} == {"h1", "h2"}

    assert wait_until(moved)


def test_a_service_without_a_name_gets_one_as_docker_makes_them(swarm) -> None:
    h1, *_ = swarm
    service, _ = h1.create_service(web(1, name="", ports=()))
    assert "_" in service.name and h1.get_service(service.name) is service


def test_a_local_network_given_by_id_is_refused_by_its_name(swarm) -> None:
    h1, *_ = swarm
    bridge = h1.get_network("bridge")
    with docker_error(err.Forbidden, 403, "The network bridge cannot be used with services. "
                      "Only networks scoped to the swarm can be used, such as those created "
                      "with the overlay driver."):
        h1.create_service(web(networks=(NetworkAttachment(bridge.id),)))
