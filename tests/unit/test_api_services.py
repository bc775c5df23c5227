"""`/services` and `/tasks` handlers over a fake services engine: bodies decoded into
ServiceSpecs, Docker's JSON shapes, the refusals of what the emulator cannot honour.

The fake engine is a real Engine on a FakeFabric (a one-node swarm, its networks,
its nodes) with the services interface of `emulator.cnm.services` kept in a
ServiceStore: every task runs at once on the swarm's one node.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

import pytest
from api_helpers import call
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.api import apispec, services
from emulator.api.context import HostContext
from emulator.api.host_api import ROUTES
from emulator.api.router import Request, Router
from emulator.api.shapes import services as shapes
from emulator.cnm.engine import Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric
from emulator.swarm import services as model
from emulator.swarm.cluster import SwarmDirectory

CLI_CREATE = {
    "Name": "web", "Labels": {},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "alpine:latest", "Args": ["nc", "-ll", "-p", "80", "-e",
                                                             "hostname"],
                          "Init": False, "DNSConfig": {}, "Isolation": ""},
        "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {}, "ForceUpdate": 0},
    "Mode": {"Replicated": {"Replicas": 3}},
    "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80,
                                               "PublishedPort": 8080,
                                               "PublishMode": "ingress"}]},
}
"""What `docker service create --name web --replicas 3 --publish 8080:80 alpine nc ...`
(docker CLI 28.2, API 1.45) sends."""


class FakeServices:
    """An Engine with the services interface, kept in a ServiceStore; tasks start at once."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.store = model.ServiceStore()
        self.updates: list[tuple[str, int, model.ServiceSpec]] = []
        self._addresses = (IPv4Interface(f"10.0.1.{i}/24") for i in range(2, 250))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def _network_id(self, ref: str) -> str:
        network = self._engine.get_network(ref)
        if network.scope != "swarm":
            raise err.InvalidParameter(
                f"The network {network.name} cannot be used with services. Only networks "
                "scoped to the swarm can be used, such as those created with the overlay "
                "driver.")
        return network.id

    def _resolved(self, spec: model.ServiceSpec) -> model.ServiceSpec:
        networks = tuple(model.NetworkAttachment(self._network_id(n.target), n.aliases)
                         for n in spec.networks)
        return model.ServiceSpec(**{**spec.__dict__, "networks": networks})

    def _place(self, service: model.Service) -> None:
        node = self._engine.swarm_node
        live = self.store.live_tasks(service.id)
        for slot in range(len(live) + 1, service.spec.replicas + 1):
            task = model.Task(model.new_task_id(), service.id, slot, node.host, node.node_id,
                              self.store.next_version(), container_id="c" * 64)
            task.addresses = {n: next(self._addresses) for n in service.network_ids()}
            task.set_state(model.RUNNING, "started")
            self.store.tasks[task.id] = task
        for task in sorted(live, key=lambda t: t.slot)[service.spec.replicas:]:
            task.desired_state = model.SHUTDOWN
            task.set_state(model.SHUTDOWN, "shutdown")

    def create_service(self, spec: model.ServiceSpec) -> tuple[model.Service, list[str]]:
        self._engine.swarm_manager()
        spec = model.ServiceSpec(**{**spec.__dict__, "name": spec.name or "generated"})
        self.store.check_name(spec.name)
        spec = self._resolved(spec)
        ports = model.allocate_ports(spec.ports, self.store.used_ingress_ports())
        service = model.Service(model.new_service_id(), spec, self.store.next_version(),
                                ports=ports)
        service.vips = {n: next(self._addresses) for n in service.network_ids()}
        self.store.services[service.id] = service
        self._place(service)
        return service, []

    def update_service(self, ref: str, version: int, spec: model.ServiceSpec) -> list[str]:
        service = self.get_service(ref)
        if version != service.version:
            raise err.DockerError("rpc error: code = Unknown desc = update out of sequence")
        if spec.name != service.name:
            raise err.NotImplementedByEmulator(
                "rpc error: code = Unimplemented desc = renaming services is not supported")
        self.updates.append((ref, version, spec))
        service.previous_spec, service.spec = service.spec, self._resolved(spec)
        service.version = self.store.next_version()
        self._place(service)
        return []

    def remove_service(self, ref: str) -> None:
        service = self.get_service(ref)
        del self.store.services[service.id]
        for task in self.store.tasks_of(service.id):
            del self.store.tasks[task.id]

    def list_services(self) -> list[model.Service]:
        self._engine.swarm_manager()
        return list(self.store.services.values())

    def get_service(self, ref: str) -> model.Service:
        self._engine.swarm_manager()
        return self.store.find(ref)

    def list_tasks(self) -> list[model.Task]:
        self._engine.swarm_manager()
        return list(self.store.tasks.values())

    def get_task(self, ref: str) -> model.Task:
        self._engine.swarm_manager()
        return self.store.find_task(ref)

    def service_status(self, service: model.Service) -> tuple[int, int]:
        running = sum(t.serving for t in self.store.tasks_of(service.id))
        return running, service.spec.replicas


@pytest.fixture
def manager() -> HostContext:
    engine = Engine("h1", FakeFabric("h1"), advertise=IPv4Address("192.0.2.11"),
                    swarm_directory=SwarmDirectory())
    engine.swarm_init()
    return HostContext(FakeServices(engine))  # type: ignore[arg-type]


def create(host: HostContext, body: dict[str, Any]) -> str:
    response = call(services.create_service, host, "POST", body)
    assert response.status == 201
    assert response.body["Warnings"] is None
    return response.body["ID"]


# -- create and the JSON of services ------------------------------------------------------


def test_the_clis_create_body_becomes_a_service_spec(manager: HostContext) -> None:
    service_id = create(manager, CLI_CREATE)
    service = manager.engine.get_service(service_id)
    assert service.spec == model.ServiceSpec(
        name="web", image="alpine:latest", args=("nc", "-ll", "-p", "80", "-e", "hostname"),
        replicas=3, ports=(model.PortConfig(80, 8080),))


def test_inspect_shows_the_service_as_dockerd_28(manager: HostContext) -> None:
    ingress = manager.engine.get_network("ingress").id
    body = {**CLI_CREATE, "TaskTemplate": {**CLI_CREATE["TaskTemplate"],
                                           "Networks": [{"Target": "ingress"}]}}
    service_id = create(manager, body)
    shown = call(services.inspect_service, manager, id="web").body
    service = manager.engine.get_service(service_id)
    assert shown == {
        "ID": service_id, "Version": {"Index": service.version},
        "CreatedAt": service.created, "UpdatedAt": service.updated,
        "Spec": {
            "Name": "web", "Labels": {},
            "TaskTemplate": {
                "ContainerSpec": {"Image": "alpine:latest",
                                  "Args": ["nc", "-ll", "-p", "80", "-e", "hostname"],
                                  "Init": False, "DNSConfig": {}, "Isolation": "default"},
                "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {},
                "Networks": [{"Target": ingress}], "ForceUpdate": 0, "Runtime": "container"},
            "Mode": {"Replicated": {"Replicas": 3}},
            "EndpointSpec": {"Mode": "vip", "Ports": [
                {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                 "PublishMode": "ingress"}]}},
        "Endpoint": {
            "Spec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 80,
                                               "PublishedPort": 8080,
                                               "PublishMode": "ingress"}]},
            "Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                       "PublishMode": "ingress"}],
            "VirtualIPs": [{"NetworkID": ingress, "Addr": str(service.vips[ingress])}]},
    }
    defaults = call(services.inspect_service, manager, id=service_id[:5],
                    query={"insertDefaults": "true"}).body["Spec"]
    assert defaults["UpdateConfig"] == defaults["RollbackConfig"] == {
        "Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000,
        "MaxFailureRatio": 0, "Order": "stop-first"}
    assert defaults["TaskTemplate"]["RestartPolicy"] == {
        "Condition": "any", "Delay": 5000000000, "MaxAttempts": 0}
    assert defaults["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] == 10000000000


@pytest.mark.parametrize("insert_defaults", [False, True])
def test_an_inspected_spec_sent_back_is_the_same_spec(manager: HostContext,
                                                      insert_defaults: bool) -> None:
    """`docker service update` and docker-py's scale send the inspected spec back."""
    create(manager, {**CLI_CREATE, "Labels": {"tier": "front"},
                     "TaskTemplate": {"ContainerSpec": {"Image": "alpine", "Command": ["nc"],
                                                        "Env": ["A=1"], "Hostname": "x"},
                                      "Networks": [{"Target": "ingress",
                                                    "Aliases": ["w"]}]}})
    service = manager.engine.get_service("web")
    shown = shapes.service_json(service, insert_defaults=insert_defaults)
    call(services.update_service, manager, "POST", shown["Spec"],
         query={"version": str(service.version)}, id="web")
    assert manager.engine.updates[-1][2] == model.ServiceSpec(
        **{**service.previous_spec.__dict__})


def test_a_service_without_a_name_is_named_by_the_engine_and_has_one_replica(
        manager: HostContext) -> None:
    service_id = create(manager, {"TaskTemplate": {"ContainerSpec": {"Image": "alpine"}},
                                  "Mode": {"replicated": {}}})
    spec = manager.engine.get_service(service_id).spec
    assert spec.replicas == 1 and spec.name == "generated"
    assert spec.endpoint_mode == "vip"


def test_docker_py_networks_and_ports(manager: HostContext) -> None:
    """docker-py spells keys as it likes (Go matches them case-insensitively) and puts the
    old top-level Networks where it is asked to."""
    service_id = create(manager, {
        "name": "api", "TaskTemplate": {"ContainerSpec": {"Image": "alpine",
                                                          "Command": ["sleep", "1d"]}},
        "Networks": [{"Target": "ingress"}],
        "EndpointSpec": {"Ports": [{"TargetPort": 53, "Protocol": "udp",
                                    "PublishMode": "host", "PublishedPort": 5353},
                                   {"TargetPort": 81}]},
    })
    spec = manager.engine.get_service(service_id).spec
    assert spec.networks == (model.NetworkAttachment(manager.engine.get_network("ingress").id),)
    assert spec.ports == (model.PortConfig(53, 5353, "udp", "host"), model.PortConfig(81))
    shown = call(services.inspect_service, manager, id="api").body
    assert shown["Endpoint"]["Ports"][1] == {"Protocol": "tcp", "TargetPort": 81,
                                             "PublishedPort": 30000, "PublishMode": "ingress"}
    assert shown["Spec"]["EndpointSpec"]["Ports"][1] == {"Protocol": "tcp", "TargetPort": 81,
                                                         "PublishMode": "ingress"}


# -- refusals -------------------------------------------------------------------------------


def _settable_fields() -> list[tuple[str, Any]]:
    """Every leaf of the v1.45 ServiceSpec with a value that is not its default."""
    spec = apispec.load()["definitions"]
    found: list[tuple[str, Any]] = []

    def walk(node: dict[str, Any], path: str) -> None:
        while "$ref" in node or ("allOf" in node and len(node["allOf"]) == 1):
            node = (spec[node["$ref"].rsplit("/", 1)[-1]] if "$ref" in node
                    else node["allOf"][0])
        if "properties" in node:
            for key, child in node["properties"].items():
                walk(child, f"{path}.{key}" if path else key)
            return
        kind = node.get("type")
        value: Any = {"string": "x-set", "integer": 7, "boolean": True, "number": 0.5,
                      "array": ["x-set"], "object": {"k": "v"}}[kind or "object"]
        if kind == "array" and "properties" in _resolved(node.get("items", {}), spec):
            for key, child in _resolved(node["items"], spec)["properties"].items():
                walk(child, f"{path}[].{key}")
            return
        found.append((path, value))

    walk({"$ref": "#/definitions/ServiceSpec"}, "")
    return found


def _resolved(node: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _body_setting(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(base))
    node = body
    parts = path.split(".")
    for part in parts[:-1]:
        if part.endswith("[]"):
            node = node.setdefault(part[:-2], [{}])[0]
        else:
            node = node.setdefault(part, {})
    node[parts[-1]] = value
    return body


SETTABLE = _settable_fields()


def test_the_walk_finds_the_whole_schema() -> None:
    paths = [path for path, _ in SETTABLE]
    assert len(paths) > 100
    assert "TaskTemplate.ContainerSpec.Mounts[].VolumeOptions.DriverConfig.Name" in paths
    assert "EndpointSpec.Ports[].PublishedPort" in paths


HONOURED_VALUES: dict[str, tuple[Any, dict[str, Any]]] = {
    "EndpointSpec.Mode": ("dnsrr", {}),
    "EndpointSpec.Ports[].Protocol": ("udp", {"TargetPort": 80}),
    "EndpointSpec.Ports[].PublishMode": ("host", {"TargetPort": 80}),
}
"""A value that changes what the service is, and the rest of the object it sits in."""


def _read(body: dict[str, Any]) -> model.ServiceSpec:
    return services.read_spec(Request("POST", "/", {}, {}, json.dumps(body).encode()),
                              services.SERVICE_CREATE)


@pytest.mark.parametrize(("path", "value"), SETTABLE, ids=[p for p, _ in SETTABLE])
def test_every_settable_field_is_honoured_or_refused(path: str, value: Any) -> None:
    base: dict[str, Any] = json.loads(json.dumps(CLI_CREATE))
    if path in HONOURED_VALUES:
        value, rest = HONOURED_VALUES[path]
        base["EndpointSpec"] = {"Ports": [rest]} if rest else {}
    body = _body_setting(base, path, value)
    if path.startswith("Mode.") and not path.startswith("Mode.Replicated"):
        body["Mode"] = {path.split(".")[1]: {}}
    name = path.replace("[]", "")
    try:
        spec = _read(body)
    except err.NotImplementedByEmulator as refusal:
        assert refusal.status == 501
        if name.startswith("Mode."):
            assert refusal.message.startswith(name.split(".")[1].lower().replace(
                "replicatedjob", "replicated-job").replace("globaljob", "global-job") + " mode")
        else:
            refused = refusal.message.removesuffix(" is not supported by the emulator")
            assert name.startswith(refused), refusal.message
        return
    assert name in {h.replace("[]", "") for h in services.HONOURED}, path
    assert spec != _read(base), f"{path} changed nothing"


def test_refusals_name_every_field_and_change_nothing(manager: HostContext) -> None:
    body = json.loads(json.dumps(CLI_CREATE))
    body["TaskTemplate"]["ContainerSpec"]["Mounts"] = [{"Type": "volume", "Target": "/data"}]
    body["TaskTemplate"]["ContainerSpec"]["Labels"] = {"a": "b"}
    body["UpdateConfig"] = {"Parallelism": 2}
    with docker_error(err.NotImplementedByEmulator, 501,
                      "TaskTemplate.ContainerSpec.Labels, TaskTemplate.ContainerSpec.Mounts, "
                      "UpdateConfig.Parallelism are not supported by the emulator"):
        call(services.create_service, manager, "POST", body)
    with docker_error(err.NotImplementedByEmulator, 501,
                      "global mode (--mode global) is not supported by the emulator: only "
                      "replicated services"):
        call(services.create_service, manager, "POST", {**CLI_CREATE, "Mode": {"Global": {}}})
    assert call(services.list_services, manager).body == []


def test_docker_defaults_are_accepted(manager: HostContext) -> None:
    body = json.loads(json.dumps(CLI_CREATE))
    body["UpdateConfig"] = dict(shapes.DEFAULT_UPDATE_CONFIG)
    body["TaskTemplate"]["RestartPolicy"] = {"Condition": "any", "Delay": 5000000000,
                                             "MaxAttempts": 0, "Window": 0}
    body["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] = 10000000000
    body["TaskTemplate"]["Placement"] = {"Platforms": [{"Architecture": "amd64",
                                                        "OS": "linux"}]}
    create(manager, body)
    body["Name"] = "arm"
    body["TaskTemplate"]["Placement"] = {"Platforms": [{"Architecture": "arm64",
                                                        "OS": "linux"}]}
    with docker_error(err.NotImplementedByEmulator, 501,
                      "TaskTemplate.Placement.Platforms.Architecture is not supported by the "
                      "emulator"):
        call(services.create_service, manager, "POST", body)


def test_dockers_own_refusals_of_a_spec(manager: HostContext) -> None:
    prefix = "rpc error: code = InvalidArgument desc = "
    with docker_error(err.InvalidParameter, 400,
                      prefix + "ContainerSpec: image reference must be provided"):
        call(services.create_service, manager, "POST", {"Name": "x"})
    dnsrr = {**CLI_CREATE, "EndpointSpec": {**CLI_CREATE["EndpointSpec"], "Mode": "dnsrr"}}
    with docker_error(err.InvalidParameter, 400, prefix + "EndpointSpec: port published with "
                      "ingress mode can't be used with dnsrr mode"):
        call(services.create_service, manager, "POST", dnsrr)
    twice = {**CLI_CREATE, "EndpointSpec": {"Ports": CLI_CREATE["EndpointSpec"]["Ports"] * 2}}
    with docker_error(err.InvalidParameter, 400,
                      prefix + "EndpointSpec: duplicate published ports provided"):
        call(services.create_service, manager, "POST", twice)
    with docker_error(err.InvalidParameter, 400, "invalid JSON: json: cannot unmarshal number "
                      "-1 into Go struct field ReplicatedService.Mode.Replicated.Replicas of "
                      "type uint64"):
        call(services.create_service, manager, "POST",
             {**CLI_CREATE, "Mode": {"Replicated": {"Replicas": -1}}})


# -- update, scale, remove -------------------------------------------------------------------


def test_scale_through_update(manager: HostContext) -> None:
    create(manager, CLI_CREATE)
    service = manager.engine.get_service("web")
    spec = shapes.service_json(service)["Spec"]
    spec["Mode"]["Replicated"]["Replicas"] = 1
    answer = call(services.update_service, manager, "POST", spec,
                  query={"version": str(service.version)}, id="web")
    assert answer.status == 200 and answer.body == {"Warnings": None}
    shown = call(services.list_services, manager, query={"status": "true"}).body
    assert shown[0]["ServiceStatus"] == {"RunningTasks": 1, "DesiredTasks": 1,
                                         "CompletedTasks": 0}
    assert shown[0]["PreviousSpec"]["Mode"] == {"Replicated": {"Replicas": 3}}


def test_rollback_goes_back_to_the_previous_spec(manager: HostContext) -> None:
    create(manager, CLI_CREATE)
    service = manager.engine.get_service("web")
    spec = shapes.service_json(service)["Spec"]
    with docker_error(err.InvalidParameter, 400, "rpc error: code = FailedPrecondition desc = "
                      f"service {service.id} does not have a previous spec"):
        call(services.update_service, manager, "POST", spec,
             query={"version": str(service.version), "rollback": "previous"}, id="web")
    spec["Mode"]["Replicated"]["Replicas"] = 1
    call(services.update_service, manager, "POST", spec,
         query={"version": str(service.version)}, id="web")
    call(services.update_service, manager, "POST", spec,
         query={"version": str(service.version), "rollback": "previous"}, id="web")
    assert service.spec.replicas == 3 and service.previous_spec.replicas == 1
    with docker_error(err.DockerError, 500, "unrecognized rollback option later"):
        call(services.update_service, manager, "POST", spec,
             query={"version": str(service.version), "rollback": "later"}, id="web")


def test_update_refusals(manager: HostContext) -> None:
    create(manager, CLI_CREATE)
    service = manager.engine.get_service("web")
    spec = shapes.service_json(service)["Spec"]
    with docker_error(err.DockerError, 500,
                      "rpc error: code = Unknown desc = update out of sequence"):
        call(services.update_service, manager, "POST", spec,
             query={"version": str(service.version - 1)}, id="web")
    with docker_error(err.InvalidParameter, 400, "invalid service version '': "
                      'strconv.ParseUint: parsing "": invalid syntax'):
        call(services.update_service, manager, "POST", spec, id="web")
    with docker_error(err.NotImplementedByEmulator, 501, "rpc error: code = Unimplemented "
                      "desc = renaming services is not supported"):
        call(services.update_service, manager, "POST", {**spec, "Name": "other"},
             query={"version": str(service.version)}, id="web")
    assert manager.engine.updates == []


def test_remove_and_not_found(manager: HostContext) -> None:
    create(manager, CLI_CREATE)
    assert call(services.remove_service, manager, "DELETE", id="web").status == 200
    with docker_error(err.NotFound, 404, "service web not found"):
        call(services.inspect_service, manager, id="web")
    with docker_error(err.NotFound, 404, "task nope not found"):
        call(services.inspect_task, manager, id="nope")
    assert call(services.list_tasks, manager).body == []


def test_logs_are_refused_clearly(manager: HostContext) -> None:
    create(manager, CLI_CREATE)
    with pytest.raises(err.NotImplementedByEmulator, match="docker service logs is not "
                       "supported by the emulator"):
        call(services.service_logs, manager, id="web")


def test_a_worker_or_no_swarm_is_not_a_manager() -> None:
    engine = Engine("h1", FakeFabric("h1"), advertise=IPv4Address("192.0.2.11"),
                    swarm_directory=SwarmDirectory())
    host = HostContext(FakeServices(engine))  # type: ignore[arg-type]
    for handler in (services.list_services, services.list_tasks):
        with pytest.raises(err.Unavailable):
            call(handler, host)
    with pytest.raises(err.Unavailable):
        call(services.create_service, host, "POST", CLI_CREATE)


# -- listings and tasks -----------------------------------------------------------------


def test_service_filters(manager: HostContext) -> None:
    create(manager, {**CLI_CREATE, "Labels": {"tier": "front"}})
    create(manager, {**CLI_CREATE, "Name": "db", "EndpointSpec": {}})

    def names(filters: dict[str, list[str]]) -> list[str]:
        listed = call(services.list_services, manager,
                      query={"filters": json.dumps(filters)}).body
        return sorted(s["Spec"]["Name"] for s in listed)

    assert names({}) == ["db", "web"]
    assert names({"name": ["w"]}) == ["web"]
    assert names({"label": ["tier=front"]}) == ["web"]
    assert names({"label": ["tier"]}) == ["web"]
    assert names({"mode": ["replicated"]}) == ["db", "web"]
    assert names({"mode": ["global"]}) == []
    web = manager.engine.get_service("web").id
    assert names({"id": [web[:6]]}) == ["web"]
    with docker_error(err.InvalidParameter, 400, "invalid filter 'colour'"):
        names({"colour": ["red"]})
    assert "ServiceStatus" not in call(services.list_services, manager).body[0]


def test_tasks_as_dockerd_shows_them(manager: HostContext) -> None:
    overlay = manager.engine.create_network(NetworkRequest("front", "overlay",
                                                           attachable=True))
    body = {**CLI_CREATE, "TaskTemplate": {**CLI_CREATE["TaskTemplate"],
                                           "Networks": [{"Target": "front"}]}}
    service_id = create(manager, body)
    node_id = manager.engine.swarm_node.node_id
    tasks = call(services.list_tasks, manager,
                 query={"filters": json.dumps({"service": ["web"],
                                               "_up-to-date": ["true"]})}).body
    assert sorted(t["Slot"] for t in tasks) == [1, 2, 3]
    task = tasks[0]
    stored = manager.engine.get_task(task["ID"])
    assert task["ServiceID"] == service_id and task["NodeID"] == node_id
    assert task["DesiredState"] == "running" and task["Labels"] == {}
    assert task["Status"] == {
        "Timestamp": stored.timestamp, "State": "running", "Message": "started",
        "ContainerStatus": {"ContainerID": "c" * 64, "PID": 0, "ExitCode": 0},
        "PortStatus": {}}
    assert task["Spec"]["ContainerSpec"]["Image"] == "alpine:latest"
    attachment = task["NetworksAttachments"][0]
    assert attachment["Addresses"] == [str(stored.addresses[overlay.id])]
    assert attachment["Network"]["ID"] == overlay.id
    assert attachment["Network"]["Spec"]["Name"] == "front"
    assert attachment["Network"]["Spec"]["DriverConfiguration"] == {"Name": "overlay"}
    assert call(services.inspect_task, manager, id=task["ID"][:8]).body == task
    bridge = manager.engine.get_network("bridge").id
    stored.addresses[bridge] = IPv4Interface("172.17.0.9/16")
    again = call(services.inspect_task, manager, id=task["ID"]).body
    assert again["NetworksAttachments"] == task["NetworksAttachments"]  # local: not shown

    def count(filters: dict[str, list[str]]) -> int:
        return len(call(services.list_tasks, manager,
                        query={"filters": json.dumps(filters)}).body)

    assert count({"node": ["h1"]}) == 3
    assert count({"desired-state": ["running"]}) == 3
    assert count({"desired-state": ["shutdown"]}) == 0
    assert count({"name": ["web.2"]}) == 1
    assert count({"label": ["x"]}) == 0
    with docker_error(err.NotFound, 404, "service nope not found"):
        count({"service": ["nope"]})
    with docker_error(err.NotFound, 404, "node nope not found"):
        count({"node": ["nope"]})
    with docker_error(err.DockerError, 500, "Invalid desired-state filter: 'asleep'"):
        count({"desired-state": ["asleep"]})


def test_distribution_inspect_fails_as_without_a_registry(manager: HostContext) -> None:
    router = Router(ROUTES, manager)
    for path in ("/v1.45/distribution/alpine:latest/json",
                 "/v1.45/distribution/library/alpine:latest/json",
                 "/v1.45/distribution/ghcr.io/org/img:1/json"):
        with pytest.raises(err.DockerError) as refused:
            router.route(Request("GET", path, {}, {}, b""))
        assert refused.value.status == 500
        assert "registry-1.docker.io" in refused.value.message


def test_the_routes_are_served(manager: HostContext) -> None:
    router = Router(ROUTES, manager)
    create(manager, CLI_CREATE)
    for path in ("/v1.45/services", "/v1.45/services/web", "/v1.45/tasks"):
        assert router.route(Request("GET", path, {}, {}, b"")).status == 200


def test_services_and_tasks_validate_against_the_v145_spec(manager: HostContext) -> None:
    from api_schema import validate

    manager.engine.create_network(NetworkRequest("front", "overlay", attachable=True))
    body = {**CLI_CREATE, "TaskTemplate": {**CLI_CREATE["TaskTemplate"],
                                           "Networks": [{"Target": "front", "Aliases": ["w"]}]}}
    create(manager, body)
    listed = call(services.list_services, manager, query={"status": "1"}).body
    defaults = call(services.inspect_service, manager, id="web",
                    query={"insertDefaults": "1"}).body
    tasks = call(services.list_tasks, manager).body
    for shown in (*listed, defaults):
        assert validate(shown, {"$ref": "#/definitions/Service"}, strict=True) == []
    for task in tasks:
        assert validate(task, {"$ref": "#/definitions/Task"}, strict=True) == []
