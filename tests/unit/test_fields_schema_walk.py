"""No field of a container create, start, exec or connect request is silently dropped.

The walk reads the v1.45 spec: every property of ContainerConfig, HostConfig (with
its Resources), EndpointSettings (and its IPAMConfig), ExecConfig and the exec start
body must be in the field table (emulator/api/containerfields.py), and nothing in the
table may be missing from the spec. Each refused field, set to a value of its type that
is not its default, makes the request fail with dockerd's NotImplemented naming the
option; each honoured field names a test that exists. What the docker CLI 28 and
docker-py send by default (captured, data/fields/client_requests.json) is accepted.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from api_helpers import FakeProcesses, call

from emulator import errdefs as err
from emulator.api import apispec, containerfields, containers, execs, networks
from emulator.api.containerfields import (
    CONFIG,
    ENDPOINT,
    EXEC,
    EXEC_START,
    FIELDS,
    HONOURED,
    HOST_CONFIG,
    REFUSED,
    RUNTIME,
    RUNTIME_MODULE,
    VERDICTS,
)
from emulator.api.context import HostContext
from emulator.api.router import Request
from emulator.cnm.engine import Engine
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.fabric.fake import FakeFabric

ROOT = Path(__file__).resolve().parents[2]
CLIENT_REQUESTS = Path(__file__).parent / "data" / "fields" / "client_requests.json"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return apispec.definition(ref.rsplit("/", 1)[-1]) if ref else schema


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    """A definition's properties, allOf parts included."""
    schema = _resolve(schema)
    found = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        found.update(_properties(part))
    return found


def spec_fields() -> dict[str, dict[str, Any]]:
    """Every request field the table must classify, by its table path, with its schema."""
    fields: dict[str, dict[str, Any]] = {}
    sections = {
        CONFIG: _properties({"$ref": "#/definitions/ContainerConfig"}),
        HOST_CONFIG: _properties({"$ref": "#/definitions/HostConfig"}),
        EXEC: _properties(apispec.request_schema("POST", "/containers/{id}/exec")),
        EXEC_START: _properties(apispec.request_schema("POST", "/exec/{id}/start")),
    }
    endpoint = _properties({"$ref": "#/definitions/EndpointSettings"})
    ipam = _properties(endpoint.pop("IPAMConfig"))
    sections[ENDPOINT] = {**endpoint, **{f"IPAMConfig.{k}": v for k, v in ipam.items()}}
    for section, properties in sections.items():
        for name, schema in properties.items():
            fields[f"{section}.{name}"] = _resolve(schema)
    return fields


def test_every_spec_field_is_in_the_table_and_only_those() -> None:
    in_spec = set(spec_fields())
    in_table = [f.path for f in FIELDS]
    assert len(in_table) == len(set(in_table)), "a field listed twice"
    assert sorted(in_spec - set(in_table)) == [], "fields neither honoured nor refused"
    assert sorted(set(in_table) - in_spec) == [], "fields the v1.45 spec does not have"
    assert {f.verdict for f in FIELDS} <= set(VERDICTS)


def test_the_create_body_is_config_host_config_and_networking_config() -> None:
    """The walk covers the whole create body: ContainerConfig plus these two."""
    schema = apispec.request_schema("POST", "/containers/create")
    parts = [p.get("$ref") or sorted(p["properties"]) for p in schema["allOf"]]
    assert parts == ["#/definitions/ContainerConfig", ["HostConfig", "NetworkingConfig"]]
    assert _properties({"$ref": "#/definitions/NetworkingConfig"}).keys() == {"EndpointsConfig"}


def test_start_takes_no_body_in_the_spec() -> None:
    operation = apispec.load()["paths"]["/containers/{id}/start"]["post"]
    assert [p["in"] for p in operation["parameters"]] == ["path", "query"]


def _test_exists(reference: str) -> bool:
    path, _, name = reference.partition("::")
    file = ROOT / path
    if not file.exists():
        return False
    tree = ast.parse(file.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


@pytest.mark.parametrize("field", [f for f in FIELDS if f.verdict == HONOURED],
                         ids=lambda f: f.path)
def test_every_honoured_field_names_a_test_that_exists(field) -> None:
    assert (ROOT / field.where).exists(), field.where
    assert _test_exists(field.test), f"{field.path}: no test {field.test}"


@pytest.mark.skipif(not (ROOT / RUNTIME_MODULE).exists(),
                    reason="the runtime helper's module is not merged yet")
@pytest.mark.parametrize("field", [f for f in FIELDS if f.verdict == RUNTIME],
                         ids=lambda f: f.path)
def test_every_runtime_field_is_read_by_the_runtime_spec(field) -> None:
    """By name, in runtime's spec module (or, for exec bodies, the exec routes)."""
    modules = [RUNTIME_MODULE]
    if field.section in (EXEC, EXEC_START):
        modules.append("emulator/api/execs.py")
    else:
        modules.append("emulator/api/containers.py")  # Image, Cmd, Entrypoint, Env
    sources = "".join((ROOT / module).read_text() for module in modules)
    assert f'"{field.name}"' in sources, f"{' or '.join(modules)} never reads {field.name}"


# -- refusals -------------------------------------------------------------------------


def asking_value(schema: dict[str, Any]) -> Any:
    """A value of the field's type that is not its zero value."""
    schema = _resolve(schema)
    kind = schema.get("type")
    if kind == "string":
        return "x"
    if kind == "integer":
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        item = _resolve(schema.get("items", {}))
        if item.get("type") == "integer":
            return [1, 1]
        return [asking_value(item)]
    properties = _properties(schema)
    if properties:
        name, member = next((n, s) for n, s in properties.items()
                            if _resolve(s).get("type") in ("string", "array"))
        return {name: asking_value(member)}
    return {"k": "v"}


ASKING = {  # where the first member's kind would not ask for anything
    "Config.Healthcheck": {"Test": ["CMD", "true"]},
    "Config.Volumes": {"/data": {}},
    "HostConfig.LogConfig": {"Type": "syslog"},
    "HostConfig.RestartPolicy": {"Name": "always"},
    "HostConfig.Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/null",
                            "CgroupPermissions": "rwm"}],
}


@pytest.fixture
def host(engine: Engine, fabric: FakeFabric, tmp_path: Path) -> HostContext:
    engine.lifecycle = ContainerLifecycle(engine, tmp_path, FakeProcesses(fabric).wait_end)
    return HostContext(engine)


def _create_body(field, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Image": "alpine", "Cmd": ["sleep", "9"]}
    if field.section == CONFIG:
        body[field.name] = value
    elif field.section == HOST_CONFIG:
        body["HostConfig"] = {field.name: value}
    else:
        config: dict[str, Any] = {}
        head, _, tail = field.name.partition(".")
        config[head] = {tail: value} if tail else value
        body["NetworkingConfig"] = {"EndpointsConfig": {"bridge": config}}
    return body


REFUSED_FIELDS = [f for f in FIELDS if f.verdict == REFUSED]


@pytest.mark.parametrize("field", REFUSED_FIELDS, ids=lambda f: f.path)
def test_a_refused_field_set_is_refused_naming_its_option(host: HostContext, field) -> None:
    value = ASKING.get(field.path, asking_value(spec_fields()[field.path]))
    assert not field.asks_nothing(value)
    body = _create_body(field, value)
    with pytest.raises(err.NotImplementedByEmulator) as refused:
        call(containers.create_container, host, "POST", body, query={"name": "cc"})
    assert refused.value.status == 501
    assert refused.value.message == f"{field.where} is not supported by the emulator"
    assert host.engine.containers == {}


@pytest.mark.parametrize("field", [f for f in REFUSED_FIELDS if f.section == ENDPOINT],
                         ids=lambda f: f.path)
def test_a_refused_endpoint_field_is_refused_by_connect(host: HostContext, field) -> None:
    call(containers.create_container, host, "POST", {"Image": "alpine"}, query={"name": "cc"})
    network = call(networks.create_network, host, "POST", {"Name": "n1"}).body["Id"]
    config = _create_body(field, asking_value(spec_fields()[field.path]))
    endpoint = config["NetworkingConfig"]["EndpointsConfig"]["bridge"]
    with pytest.raises(err.NotImplementedByEmulator, match=f"^{field.where} is not supported"):
        call(networks.connect_container, host, "POST",
             {"Container": "cc", "EndpointConfig": endpoint}, id=network)


def test_several_refused_options_are_named_together(host: HostContext) -> None:
    body = {"Image": "alpine", "HostConfig": {"Memory": 1 << 20, "NanoCpus": 10 ** 9,
                                              "RestartPolicy": {"Name": "always"}}}
    with pytest.raises(err.NotImplementedByEmulator) as refused:
        call(containers.create_container, host, "POST", body)
    assert refused.value.message == ("--restart, --memory, --cpus are not supported by the "
                                     "emulator")


@pytest.mark.parametrize("path,value", [
    ("HostConfig.RestartPolicy", {"Name": "no", "MaximumRetryCount": 0}),
    ("HostConfig.LogConfig", {"Type": "json-file", "Config": {}}),
    ("HostConfig.MemorySwappiness", -1), ("HostConfig.PidsLimit", -1),
    ("HostConfig.Isolation", "default"), ("HostConfig.CgroupnsMode", "host"),
    ("Config.Healthcheck", {"Test": ["NONE"]}), ("HostConfig.ConsoleSize", [0, 0]),
])
def test_values_that_ask_for_what_the_emulator_does_are_accepted(host: HostContext, path,
                                                                  value) -> None:
    field = containerfields.BY_PATH[path]
    response = call(containers.create_container, host, "POST", _create_body(field, value))
    assert response.status == 201


# -- what the clients send ---------------------------------------------------------------


def client_requests() -> list[dict[str, Any]]:
    return json.loads(CLIENT_REQUESTS.read_text())["requests"]


@pytest.mark.parametrize("captured", [r for r in client_requests() if r["request"] == "create"],
                         ids=lambda r: r["client"])
def test_what_the_clients_send_by_default_creates_a_container(host: HostContext,
                                                              captured) -> None:
    call(networks.create_network, host, "POST", {"Name": "mynet"})
    call(networks.create_network, host, "POST", {"Name": "n1"})
    call(containers.create_container, host, "POST", {"Image": "alpine"}, query={"name": "foo"})
    response = call(containers.create_container, host, "POST", captured["body"])
    assert response.status == 201


@pytest.mark.parametrize("captured", [r for r in client_requests()
                                      if r["request"] in ("exec_create", "connect")],
                         ids=lambda r: f"{r['client']} {r['request']}")
def test_what_the_clients_send_to_exec_and_connect_is_taken(host: HostContext,
                                                            captured) -> None:
    subnet = {"IPAM": {"Config": [{"Subnet": "10.0.0.0/24"}]}}
    call(networks.create_network, host, "POST", {"Name": "net", **subnet})
    call(containers.create_container, host, "POST", {"Image": "alpine"}, query={"name": "abc"})
    call(containers.start_container, host, "POST", id="abc")
    if captured["request"] == "connect":
        response = call(networks.connect_container, host, "POST", captured["body"], id="net")
        assert response.status == 200
        assert host.engine.get_container("abc").endpoints  # joined
    else:
        response = call(execs.create_exec, host, "POST", captured["body"], id="abc")
        assert response.status == 201


def test_a_start_with_a_body_is_refused_as_dockerd_does(host: HostContext) -> None:
    call(containers.create_container, host, "POST", {"Image": "alpine"}, query={"name": "cc"})
    request = Request("POST", "/", {}, {}, b'{"HostConfig": {}}', params={"id": "cc"})
    with pytest.raises(err.InvalidParameter, match="^starting container with non-empty "
                       "request body was deprecated since API v1.22 and removed in v1.24$"):
        containers.start_container(host, request)
    assert call(containers.start_container, host, "POST", {}, id="cc").status == 204


def test_a_create_from_the_emulators_own_inspect_is_taken(host: HostContext) -> None:
    """Tools that recreate a container send back what inspect showed: Config, HostConfig
    and the endpoints' settings, operational fields and all."""
    network = call(networks.create_network, host, "POST", {"Name": "n1"}).body["Id"]
    body = {"Image": "alpine", "Cmd": ["sleep", "9"], "Labels": {"a": "b"},
            "ExposedPorts": {"80/tcp": {}}, "MacAddress": "02:42:ac:11:00:99",
            "HostConfig": {"NetworkMode": "n1",
                           "PortBindings": {"80/tcp": [{"HostPort": "8080"}]},
                           "Dns": ["192.0.2.53"], "Sysctls": {"net.ipv4.ip_forward": "1"}}}
    call(containers.create_container, host, "POST", body, query={"name": "orig"})
    call(containers.start_container, host, "POST", id="orig")
    shown = call(containers.inspect_container, host, id="orig").body
    echoed = {**shown["Config"], "HostConfig": shown["HostConfig"],
              "NetworkingConfig": {"EndpointsConfig": shown["NetworkSettings"]["Networks"]}}
    call(containers.remove_container, host, "DELETE", query={"force": "1"}, id="orig")
    response = call(containers.create_container, host, "POST", echoed, query={"name": "again"})
    assert response.status == 201
    call(containers.start_container, host, "POST", id="again")
    again = call(containers.inspect_container, host, id="again").body
    assert again["NetworkSettings"]["Networks"]["n1"]["NetworkID"] == network
    assert again["Config"]["MacAddress"] == "02:42:ac:11:00:99"
