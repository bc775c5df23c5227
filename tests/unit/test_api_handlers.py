"""Engine API handlers called one by one, over an engine on a FakeFabric.

What a client of the API sees: statuses, bodies and dockerd's error texts; for
containers also what is left of them after a wait (`--rm`). The route table is
checked once through the router.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from api_helpers import TIMEOUT_S, FakeProcesses, call
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.api import containers, networks, swarm, system
from emulator.api.context import HostContext
from emulator.api.host_api import ROUTES
from emulator.api.router import NotImplementedEndpoint, Request, Router
from emulator.api.streams import STDOUT, frame
from emulator.cnm.engine import Engine
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.fabric.fake import FakeFabric
from emulator.swarm.cluster import SwarmDirectory

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                 'join" to connect this node to swarm and try again.')
NO_BINARY = ('failed to create task for container: OCI runtime create failed: unable to start '
             'container process: exec: "nope": executable file not found in $PATH: unknown')


@pytest.fixture
def processes(fabric: FakeFabric) -> FakeProcesses:
    return FakeProcesses(fabric)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def host(engine: Engine, processes: FakeProcesses, log_dir: Path) -> HostContext:
    engine.lifecycle = ContainerLifecycle(engine, log_dir, processes.wait_end)
    return HostContext(engine)


@pytest.fixture
def waiter():
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


def create_network(host: HostContext, body: dict) -> str:
    response = call(networks.create_network, host, "POST", body)
    assert response.status == 201
    return response.body["Id"]


def create_container(host: HostContext, name: str, **config) -> str:
    response = call(containers.create_container, host, "POST", {"Cmd": ["sleep", "9"], **config},
                    query={"name": name})
    assert response.status == 201 and response.body["Warnings"] == []
    return response.body["Id"]


# -- networks ---------------------------------------------------------------------


def test_network_create_inspect_list_remove(host: HostContext) -> None:
    net_id = create_network(host, {"Name": "front", "Driver": "bridge", "Labels": {"a": "b"},
                                   "IPAM": {"Config": [{"Subnet": "10.9.0.0/24"}]}})
    cid = create_container(host, "web", HostConfig={"NetworkMode": "front"})
    assert call(containers.start_container, host, "POST", id=cid).status == 204

    shown = call(networks.inspect_network, host, id="front")
    assert shown.status == 200
    assert shown.body["Id"] == net_id and shown.body["Driver"] == "bridge"
    # Docker shows the subnet as it was asked for: no gateway unless one was given.
    assert shown.body["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24"}]
    assert shown.body["Labels"] == {"a": "b"}
    assert shown.body["Containers"][cid]["IPv4Address"] == "10.9.0.2/24"

    listed = call(networks.list_networks, host, query={"filters": '{"name": ["front"]}'})
    assert [n["Id"] for n in listed.body] == [net_id]
    assert listed.body[0]["Containers"] == {}  # the listing leaves endpoints out, as dockerd

    with docker_error(err.Forbidden, 403, "error while removing network: network front has "
                      f'active endpoints (name:"web" id:"{_endpoint(host, cid)[:12]}")'):
        call(networks.remove_network, host, "DELETE", id="front")
    call(containers.remove_container, host, "DELETE", query={"force": "1"}, id=cid)
    assert call(networks.remove_network, host, "DELETE", id=net_id).status == 204
    with docker_error(err.NotFound, 404, "network front not found"):
        call(networks.inspect_network, host, id="front")


def _endpoint(host: HostContext, cid: str) -> str:
    return next(iter(host.engine.get_container(cid).endpoints.values())).id


@pytest.mark.parametrize(("body", "cls", "status", "message"), [
    ([], err.InvalidParameter, 400, "invalid JSON: json: cannot unmarshal array into Go value "
                                    "of type types.NetworkCreateRequest"),
    ({"Name": "v6", "EnableIPv6": True, "Options": {"com.docker.network.enable_ipv4": "no"}},
     err.InvalidParameter, 400, 'driver-opt "com.docker.network.enable_ipv4" is not a valid bool'),
    ({"Name": "n", "IPAM": {"Driver": "other"}}, err.NotImplementedByEmulator, 501,
     'IPAM driver "other" is not available; the emulator has "default"'),
    ({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24"}, {"Subnet": "10.2.0.0/24"}]}},
     err.Forbidden, 403, "bridge driver doesn't support multiple subnets"),
    ({"Name": "in", "Ingress": True}, err.NotImplementedByEmulator, 501,
     "creating an ingress network is not supported by the emulator: swarm init makes the "
     "one ingress network"),
    ({"Name": "bridge"}, err.Forbidden, 403,
     "operation is not permitted on predefined bridge network "),
])
def test_network_create_refusals(host: HostContext, body, cls, status, message) -> None:
    before = sorted(host.engine.networks)
    with docker_error(cls, status, message):
        call(networks.create_network, host, "POST", body)
    assert sorted(host.engine.networks) == before


def test_network_create_twice_is_a_conflict(host: HostContext) -> None:
    create_network(host, {"Name": "front"})
    with docker_error(err.Conflict, 409, "network with name front already exists"):
        call(networks.create_network, host, "POST", {"Name": "front"})


def test_network_connect_disconnect_and_prune(host: HostContext) -> None:
    create_network(host, {"Name": "back"})
    create_network(host, {"Name": "idle"})
    cid = create_container(host, "db")
    call(containers.start_container, host, "POST", id=cid)
    body = {"Container": "db", "EndpointConfig": {"Aliases": ["data"],
                                                  "IPAMConfig": {"IPv4Address": ""}}}
    assert call(networks.connect_container, host, "POST", body, id="back").status == 200
    shown = call(containers.inspect_container, host, id=cid).body
    assert set(shown["NetworkSettings"]["Networks"]) == {"bridge", "back"}
    assert shown["NetworkSettings"]["Networks"]["back"]["Aliases"] == ["data"]

    pruned = call(networks.prune_networks, host, "POST")
    assert pruned.body == {"NetworksDeleted": ["idle"]}  # back has a container
    assert call(networks.disconnect_container, host, "POST", {"Container": "db"},
                id="back").status == 200
    shown = call(containers.inspect_container, host, id=cid).body
    assert set(shown["NetworkSettings"]["Networks"]) == {"bridge"}


# -- containers -------------------------------------------------------------------


def test_container_create_start_stop_inspect(host: HostContext, log_dir: Path) -> None:
    cid = create_container(host, "web", Labels={"tier": "front"}, Env=["A=1"])
    shown = call(containers.inspect_container, host, id="web").body
    assert shown["Id"] == cid and shown["Name"] == "/web"
    assert shown["State"]["Status"] == "created" and shown["State"]["Running"] is False
    assert shown["LogPath"] == str(log_dir / f"{cid}-json.log")
    assert shown["Config"]["Labels"] == {"tier": "front"} and shown["Config"]["Env"] == ["A=1"]

    assert call(containers.start_container, host, "POST", id="web").status == 204
    assert call(containers.start_container, host, "POST", id="web").status == 304
    listed = call(containers.list_containers, host).body
    assert [(c["Names"], c["State"]) for c in listed] == [(["/web"], "running")]

    assert call(containers.stop_container, host, "POST", id="web").status == 204
    assert call(containers.stop_container, host, "POST", id="web").status == 304
    shown = call(containers.inspect_container, host, id="web").body
    assert shown["State"]["Status"] == "exited" and shown["State"]["ExitCode"] == 143
    assert call(containers.list_containers, host).body == []
    everything = call(containers.list_containers, host, query={"all": "1"}).body
    assert [c["Status"].split(")")[0] for c in everything] == ["Exited (143"]


def test_container_refusals(host: HostContext) -> None:
    cid = create_container(host, "web")
    with docker_error(err.Conflict, 409, f"cannot kill container: web: container {cid} is not "
                      "running"):
        call(containers.kill_container, host, "POST", id="web")
    with docker_error(err.NotFound, 404, "No such container: nope"):
        call(containers.start_container, host, "POST", id="nope")
    with docker_error(err.InvalidParameter, 400, "invalid filter 'colour'"):
        call(containers.list_containers, host, query={"filters": '{"colour": ["red"]}'})
    with docker_error(err.NotImplementedByEmulator, 501,
                      "--network container:NAME is not supported by the emulator yet"):
        call(containers.create_container, host, "POST",
             {"Image": "alpine", "HostConfig": {"NetworkMode": "container:web"}})
    call(containers.start_container, host, "POST", id="web")
    with docker_error(err.Conflict, 409, 'cannot remove container "/web": container is running: '
                      "stop the container before removing or force remove"):
        call(containers.remove_container, host, "DELETE", id="web")
    assert call(containers.remove_container, host, "DELETE", query={"force": "1"},
                id="web").status == 204
    assert host.engine.containers == {} and host.engine.fabric.sandboxes == {}


def test_run_with_auto_remove_is_gone_after_its_wait(host: HostContext, waiter,
                                                     processes: FakeProcesses) -> None:
    cid = create_container(host, "job", HostConfig={"AutoRemove": True})
    assert call(containers.start_container, host, "POST", id=cid).status == 204
    container = host.engine.get_container(cid)
    answer = waiter.submit(call(containers.wait_container, host, "POST", id=cid).later)
    assert processes.awaited(container)
    assert not answer.done()
    processes.end(container, 3)
    assert answer.result(TIMEOUT_S) == {"StatusCode": 3}
    with docker_error(err.NotFound, 404, f"No such container: {cid}"):
        call(containers.inspect_container, host, id=cid)
    assert host.engine.fabric.sandboxes == {}
    assert host.engine.get_network("bridge").endpoints == {}


def test_stop_and_kill_remove_an_auto_remove_container(host: HostContext) -> None:
    for name, handler in (("one", containers.stop_container), ("two", containers.kill_container)):
        create_container(host, name, HostConfig={"AutoRemove": True})
        call(containers.start_container, host, "POST", id=name)
        assert call(handler, host, "POST", id=name).status == 204
    assert host.engine.containers == {}


def test_exit_codes_of_stop_and_kill(host: HostContext) -> None:
    for name, handler, code in (("one", containers.stop_container, 143),
                                ("two", containers.kill_container, 137)):
        cid = create_container(host, name)
        call(containers.start_container, host, "POST", id=name)
        call(handler, host, "POST", id=name)
        wait = call(containers.wait_container, host, "POST", id=cid)
        assert wait.status == 200 and wait.later() == {"StatusCode": code}


def test_wait_for_an_unknown_container_is_not_found_before_the_headers(
        host: HostContext) -> None:
    with docker_error(err.NotFound, 404, "No such container: nope"):
        call(containers.wait_container, host, "POST", id="nope")


class NoBinaries(FakeFabric):
    def start_process(self, sandbox, command, hostname, env=None, files=None, root=None,
                      open_stdin=False) -> None:
        raise FileNotFoundError(command[0])


def test_a_failed_start_exits_127_and_wakes_its_waiter(waiter) -> None:
    engine = Engine("h1", NoBinaries("h1"))
    host = HostContext(engine)
    cid = create_container(host, "bad", Cmd=["nope"])
    answer = waiter.submit(call(containers.wait_container, host, "POST",
                                query={"condition": "next-exit"}, id=cid).later)
    with docker_error(err.InvalidParameter, 400, NO_BINARY):
        call(containers.start_container, host, "POST", id=cid)
    assert answer.result(TIMEOUT_S) == {"StatusCode": 127}
    assert engine.fabric.sandboxes == {}


def test_a_failed_start_of_an_auto_remove_container_removes_it() -> None:
    engine = Engine("h1", NoBinaries("h1"))
    host = HostContext(engine)
    cid = create_container(host, "bad", Cmd=["nope"], HostConfig={"AutoRemove": True})
    with docker_error(err.InvalidParameter, 400, NO_BINARY):
        call(containers.start_container, host, "POST", id=cid)
    assert engine.containers == {}


def test_logs_are_the_log_file_framed_as_stdout(host: HostContext, log_dir: Path) -> None:
    cid = create_container(host, "web")
    both = {"stdout": "1", "stderr": "1"}
    empty = call(containers.container_logs, host, query=both, id=cid)
    assert empty.status == 200 and empty.raw == b""
    (log_dir / f"{cid}.log").write_bytes(b"hello\n")
    logs = call(containers.container_logs, host, query=both, id="web")
    assert logs.raw == frame(STDOUT, b"hello\n")
    assert logs.headers == {"Content-Type": "application/vnd.docker.multiplexed-stream"}


def test_attach_needs_a_hijacked_connection(host: HostContext) -> None:
    create_container(host, "web")
    with docker_error(err.NotImplementedByEmulator, 501, "attach needs a hijacked connection"):
        call(containers.attach_container, host, "POST", id="web")


# -- swarm ------------------------------------------------------------------------


@pytest.fixture
def manager() -> HostContext:
    engine = Engine("h1", FakeFabric("h1"), advertise=IPv4Address("192.0.2.11"),
                    swarm_directory=SwarmDirectory())
    return HostContext(engine)


def test_swarm_questions_need_a_manager(manager: HostContext) -> None:
    for handler in (swarm.inspect_swarm, swarm.list_nodes):
        with docker_error(err.Unavailable, 503, NOT_A_MANAGER):
            call(handler, manager)
    with docker_error(err.InvalidParameter, 400, "invalid filter 'colour'"):
        call(swarm.list_nodes, manager, query={"filters": '{"colour": ["red"]}'})
    info = call(system.get_info, manager).body["Swarm"]
    assert info["LocalNodeState"] == "inactive" and info["RemoteManagers"] is None


def test_swarm_init_inspect_and_nodes(manager: HostContext) -> None:
    node_id = call(swarm.init_swarm, manager, "POST", {"DataPathPort": 7789}).body
    the_swarm = manager.engine.swarm
    shown = call(swarm.inspect_swarm, manager).body
    assert shown["ID"] == the_swarm.id and shown["DataPathPort"] == 7789
    assert shown["JoinTokens"] == {"Worker": the_swarm.tokens["worker"],
                                   "Manager": the_swarm.tokens["manager"]}

    nodes = call(swarm.list_nodes, manager, query={"filters": '{"role": ["manager"]}'}).body
    assert [(n["ID"], n["Description"]["Hostname"]) for n in nodes] == [(node_id, "h1")]
    assert nodes[0]["ManagerStatus"] == {"Leader": True, "Reachability": "reachable",
                                         "Addr": "192.0.2.11:2377"}
    assert call(swarm.list_nodes, manager, query={"filters": '{"role": ["worker"]}'}).body == []
    assert call(swarm.inspect_node, manager, id="h1").body["ID"] == node_id
    with docker_error(err.NotFound, 404, "node nope not found"):
        call(swarm.inspect_node, manager, id="nope")

    info = call(system.get_info, manager).body["Swarm"]
    assert info["NodeID"] == node_id and info["ControlAvailable"] is True
    assert info["Nodes"] == 1 and info["Managers"] == 1
    assert "JoinTokens" not in info["Cluster"] and info["Cluster"]["ID"] == the_swarm.id
    assert call(system.ping, manager).headers["Swarm"] == "active/manager"


def test_a_worker_is_refused_manager_questions(manager: HostContext) -> None:
    call(swarm.init_swarm, manager, "POST", {})
    directory = manager.engine.swarm_directory
    worker = HostContext(Engine("h2", FakeFabric("h2"), advertise=IPv4Address("192.0.2.12"),
                                swarm_directory=directory))
    token = manager.engine.swarm.tokens["worker"]
    call(swarm.join_swarm, worker, "POST", {"RemoteAddrs": ["192.0.2.11:2377"],
                                            "JoinToken": token})
    assert call(system.ping, worker).headers["Swarm"] == "active/worker"
    with docker_error(err.Unavailable, 503, (
            "This node is not a swarm manager. Worker nodes can't be used to view or modify "
            "cluster state. Please run this command on a manager node or promote the current "
            "node to a manager.")):
        call(swarm.inspect_swarm, worker)
    nodes = call(swarm.list_nodes, manager).body
    assert sorted((n["Description"]["Hostname"], n["Spec"]["Role"]) for n in nodes) == [
        ("h1", "manager"), ("h2", "worker")]


# -- the route table ----------------------------------------------------------------


def test_routes_reach_their_handlers(host: HostContext) -> None:
    router = Router(ROUTES, host)
    net_id = create_network(host, {"Name": "front"})
    request = Request("GET", "/v1.45/networks/front", {}, {}, b"")
    response = router.route(request)
    assert response.body["Id"] == net_id and request.api_version == "1.45"
    assert request.params == {"id": "front"}
    head = router.route(Request("HEAD", "/_ping", {}, {}, b""))
    assert head.raw == b"OK"
    with pytest.raises(NotImplementedEndpoint) as info:
        router.route(Request("POST", "/v1.45/secrets/create", {}, {}, b""))
    assert info.value.status == 501
    assert info.value.message == ("POST /secrets/create is not implemented by the "
                                  "cnm-emulator Engine API")


def test_every_route_is_routed_once() -> None:
    routes = [(r.method, r.pattern) for r in ROUTES]
    assert len(routes) == len(set(routes))


def test_a_swarm_scoped_network_needs_an_active_swarm(manager: HostContext) -> None:
    body = {"Name": "sw", "Driver": "bridge", "Scope": "swarm"}
    with docker_error(err.Forbidden, 403,
                      "cannot create a swarm scoped network when swarm is not active"):
        call(networks.create_network, manager, "POST", body)
    call(swarm.init_swarm, manager, "POST", {})
    with pytest.raises(err.NotImplementedByEmulator, match="swarm-scoped networks other than"):
        call(networks.create_network, manager, "POST", body)
