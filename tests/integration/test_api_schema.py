"""Every Engine API answer of an emulated host matches Docker's v1.45 spec.

A module fixture records the server's exchanges (emulator.api.server._RECORD) while
docker-py drives a broad set of requests, expected errors included; the tests then
validate every recorded body with tests/integration/api_schema.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import pytest
from api_schema import (
    DOCKERD_NULLS,
    check_all,
    check_exchange,
    find_operation,
    operations_of,
    read_entries,
)

import emulator.api.server as api_server

EXERCISED = [
    ("GET", "/_ping"), ("HEAD", "/_ping"), ("GET", "/version"), ("GET", "/info"),
    ("GET", "/networks"), ("POST", "/networks/create"), ("GET", "/networks/{id}"),
    ("POST", "/networks/{id}/connect"), ("POST", "/networks/{id}/disconnect"),
    ("POST", "/networks/prune"), ("DELETE", "/networks/{id}"),
    ("POST", "/containers/create"), ("POST", "/containers/{id}/start"),
    ("GET", "/containers/json"), ("GET", "/containers/{id}/json"),
    ("POST", "/containers/{id}/exec"), ("POST", "/exec/{id}/start"), ("GET", "/exec/{id}/json"),
    ("POST", "/containers/{id}/stop"), ("POST", "/containers/{id}/kill"),
    ("POST", "/containers/{id}/restart"), ("POST", "/containers/{id}/wait"),
    ("GET", "/containers/{id}/logs"), ("DELETE", "/containers/{id}"),
    ("POST", "/images/create"),
    ("GET", "/containers/{id}/stats"), ("GET", "/containers/{id}/top"),
    ("POST", "/containers/{id}/rename"), ("POST", "/containers/{id}/pause"),
    ("POST", "/containers/{id}/unpause"), ("POST", "/containers/prune"),
]
ERROR_STATUSES = {400, 403, 404, 409}
WRONG_TYPES = [
    ("/networks/create", {"Name": 5}, "invalid JSON: json: cannot unmarshal number into Go "
     "struct field NetworkCreateRequest.Name of type string"),
    ("/containers/create", {"Image": "alpine", "Cmd": [5]}, "invalid JSON: json: cannot "
     "unmarshal array into Go struct field ContainerConfigWrapper.Cmd of type string"),
]
"""Bodies dockerd refuses for a type (issue 12): the answer is Docker's ErrorResponse."""


class Driver:
    """Runs named steps; a step that raises is kept, not fatal, so that one
    misbehaving endpoint still leaves the others recorded and checked."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - reported by test_every_step_behaved
            self.failures.append(f"{name}: {type(exc).__name__}: {exc}")
            return None

    def expect_error(self, name: str, action: Callable[[], Any], status: int,
                     message: str) -> None:
        def run() -> None:
            try:
                action()
            except docker.errors.APIError as exc:
                assert exc.status_code == status, (exc.status_code, exc.explanation)
                assert message in (exc.explanation or ""), exc.explanation
                return
            raise AssertionError(f"no error (expected {status} {message!r})")

        self.step(name, run)


def drive(client: docker.DockerClient, tag: str, driver: Driver) -> None:
    api = client.api
    step, expect_error = driver.step, driver.expect_error
    net_a, net_b, net_c = f"sa-{tag}", f"sb-{tag}", f"sc-{tag}"

    step("ping", lambda: client.ping())
    step("head ping", lambda: api.head(api._url("/_ping", versioned_api=False)).raise_for_status())
    step("version", lambda: client.version())
    step("info", lambda: client.info())
    step("pull", lambda: api.pull("alpine", tag="latest"))

    step("networks ls", lambda: client.networks.list())
    step("networks ls filtered", lambda: client.networks.list(filters={"driver": "bridge"}))
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
        subnet="10.93.0.0/24", gateway="10.93.0.1", iprange="10.93.0.128/25",
        aux_addresses={"router": "10.93.0.2"})])
    step("network create, every option", lambda: client.networks.create(
        net_a, driver="bridge", ipam=ipam, internal=False, attachable=True,
        labels={"suite": tag}, enable_ipv6=False, check_duplicate=True,
        options={"com.docker.network.bridge.enable_icc": "true",
                 "com.docker.network.driver.mtu": "1500"}))
    step("network create internal", lambda: client.networks.create(
        net_b, internal=True, labels={"suite": tag}))
    step("network create plain", lambda: client.networks.create(net_c))
    step("network inspect by name", lambda: client.networks.get(net_a))
    step("network inspect predefined", lambda: api.inspect_network("bridge"))
    step("networks ls greedy", lambda: client.networks.list(greedy=True))

    one = step("run on a", lambda: client.containers.run(
        "alpine", ["sleep", "infinity"], detach=True, name=f"one-{tag}", network=net_a,
        labels={"suite": tag}, environment={"K": "v"}))
    step("create with a static IP", lambda: api.create_container(
        "alpine", ["sleep", "infinity"], name=f"two-{tag}", hostname=f"two-{tag}",
        networking_config=api.create_networking_config({net_a: api.create_endpoint_config(
            ipv4_address="10.93.0.200", aliases=[f"alias-{tag}"])})))
    step("start", lambda: api.start(f"two-{tag}"))
    step("start again (304)", lambda: api.start(f"two-{tag}"))
    step("run on none", lambda: client.containers.run(
        "alpine", ["sleep", "infinity"], detach=True, name=f"three-{tag}", network="none"))
    step("run on host", lambda: client.containers.run(
        "alpine", ["sleep", "infinity"], detach=True, name=f"four-{tag}",
        network_mode="host"))
    step("containers ls", lambda: client.containers.list())
    step("containers ls all", lambda: client.containers.list(all=True))
    for name in ("one", "two", "three", "four"):
        step(f"inspect {name}", lambda name=name: client.containers.get(f"{name}-{tag}"))

    def exec_round() -> None:
        result = client.containers.get(f"one-{tag}").exec_run(["sh", "-c", "exit 3"])
        assert result.exit_code == 3
        exec_id = api.exec_create(f"one-{tag}", ["true"])["Id"]
        api.exec_start(exec_id)
        assert api.exec_inspect(exec_id)["ExitCode"] == 0
        detached = api.exec_create(f"one-{tag}", ["true"])["Id"]
        api.exec_start(detached, detach=True)
        api.exec_inspect(detached)

    step("exec", exec_round)
    step("network connect", lambda: client.networks.get(net_c).connect(
        f"one-{tag}", aliases=[f"c-{tag}"]))
    step("network inspect verbose", lambda: api.inspect_network(net_c, verbose=True))
    step("container inspect, two networks", lambda: api.inspect_container(f"one-{tag}"))
    step("network disconnect", lambda: client.networks.get(net_c).disconnect(f"one-{tag}"))

    expect_error("disconnect again", lambda: api.disconnect_container_from_network(
        f"one-{tag}", net_c), 500, "is not connected to network")
    expect_error("no such container", lambda: client.containers.get(f"nope-{tag}"),
                 404, f"No such container: nope-{tag}")
    expect_error("no such network", lambda: client.networks.get(f"nope-{tag}"),
                 404, f"network nope-{tag} not found")
    expect_error("no such exec", lambda: api.exec_inspect("0" * 64), 404,
                 "No such exec instance")
    expect_error("remove bridge", lambda: api.remove_network("bridge"), 403,
                 "bridge is a pre-defined network and cannot be removed")
    expect_error("create host", lambda: client.networks.create("host"), 403,
                 "operation is not permitted on predefined host network")
    expect_error("remove network in use", lambda: api.remove_network(net_a), 403,
                 "has active endpoints")
    expect_error("duplicate network", lambda: client.networks.create(net_a), 409,
                 f"network with name {net_a} already exists")
    expect_error("duplicate container", lambda: client.containers.run(
        "alpine", "true", detach=True, name=f"one-{tag}"), 409, "is already in use")
    expect_error("remove running", lambda: api.remove_container(f"one-{tag}"), 409,
                 "container is running")
    expect_error("bad subnet", lambda: client.networks.create(
        f"bad-{tag}", ipam=docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet="10.94.0.0/33")])), 400, "10.94.0.0/33")
    expect_error("static IP on bridge", lambda: api.connect_container_to_network(
        f"one-{tag}", "bridge", ipv4_address="172.17.0.99"), 400,
        "user specified IP address is supported on user defined networks only")
    expect_error("bad filter", lambda: client.networks.list(filters={"bogus": "x"}), 400,
                 "invalid filter")
    expect_error("invalid JSON", lambda: api._raise_for_status(api._post(
        api._url("/networks/create"), data="{not json",
        headers={"Content-Type": "application/json"})), 400, "invalid JSON")
    for path, body, message in WRONG_TYPES:
        expect_error(f"wrong type {path}", lambda path=path, body=body: api._raise_for_status(
            api._post(api._url(path), data=json.dumps(body),
                      headers={"Content-Type": "application/json"})), 400, message)
    expect_error("client too new", lambda: api._raise_for_status(api.get(
        f"{api.base_url}/v9.99/networks")), 400, "client version 9.99 is too new")

    step("stats one-shot", lambda: api.stats(f"one-{tag}", stream=False, one_shot=True))
    step("stats", lambda: api.stats(f"one-{tag}", stream=False))
    step("top", lambda: api.top(f"one-{tag}"))
    step("rename", lambda: api.rename(f"two-{tag}", f"deux-{tag}"))
    step("rename back", lambda: api.rename(f"deux-{tag}", f"two-{tag}"))
    step("pause", lambda: api.pause(f"two-{tag}"))
    expect_error("pause again", lambda: api.pause(f"two-{tag}"), 409, "is already paused")
    step("unpause", lambda: api.unpause(f"two-{tag}"))
    step("stop", lambda: client.containers.get(f"one-{tag}").stop(timeout=1))
    step("stop again (304)", lambda: api.stop(f"one-{tag}"))
    expect_error("exec in a stopped container", lambda: api.exec_create(
        f"one-{tag}", ["true"]), 409, "is not running")
    step("start after stop", lambda: client.containers.get(f"one-{tag}").start())
    step("restart", lambda: client.containers.get(f"two-{tag}").restart(timeout=1))
    step("kill", lambda: client.containers.get(f"three-{tag}").kill())
    expect_error("kill a stopped container", lambda: api.kill(f"three-{tag}"), 409,
                 "is not running")

    def run_to_completion() -> None:
        done = client.containers.run("alpine", ["sh", "-c", "echo logged; exit 4"],
                                     detach=True, name=f"five-{tag}")
        assert done.wait(timeout=30)["StatusCode"] == 4
        assert done.logs() == b"logged\n"

    step("wait and logs", run_to_completion)
    step("prune containers by label", lambda: client.containers.prune(
        filters={"label": f"suite={tag}-none"}))
    step("prune networks by label", lambda: client.networks.prune(filters={"label": "suite"}))
    step("prune networks", lambda: client.networks.prune())
    if one is not None:
        step("remove force", lambda: one.remove(force=True))
    for name in ("two", "three", "four", "five"):
        step(f"remove {name}", lambda name=name: api.remove_container(f"{name}-{tag}",
                                                                        force=True))
    expect_error("remove removed", lambda: api.remove_container(f"five-{tag}"), 404,
                 "No such container")
    for name in (net_a, net_b, net_c):
        step(f"remove network {name}", lambda name=name: [
            n.remove() for n in client.networks.list(names=[name])])


@pytest.fixture(scope="module")
def recorded(lab, tmp_path_factory):
    """(record file, step failures) of one broad docker-py session against h1."""
    path = tmp_path_factory.mktemp("api-record") / "exchanges.jsonl"
    path.touch()
    previous = api_server._RECORD
    api_server._RECORD = str(path)
    driver = Driver()
    client = docker.DockerClient(base_url=lab.docker_host_url("h1"), timeout=60)
    try:
        drive(client, secrets.token_hex(3), driver)
    finally:
        api_server._RECORD = previous
        client.close()
        engine = lab.host("h1").engine
        engine.remove_containers(list(engine.containers), force=True)
        for network in list(engine.networks.values()):
            if not network.predefined:
                engine.remove_network(network.id)
    return path, driver.failures


def test_every_step_behaved(recorded):
    _, failures = recorded
    assert failures == []


def test_recording_covers_the_exercised_endpoints(recorded):
    path, _ = recorded
    assert set(EXERCISED) <= operations_of(path), set(EXERCISED) - operations_of(path)
    statuses = {entry["status"] for entry in read_entries(path)}
    assert ERROR_STATUSES <= statuses, statuses


def test_every_exchange_conforms_to_the_spec(recorded):
    path, _ = recorded
    assert check_all(path) == []


@pytest.mark.parametrize("operation", EXERCISED, ids=[f"{m} {p}" for m, p in EXERCISED])
def test_operation_conforms(recorded, operation):
    path, _ = recorded
    entries = [e for e in read_entries(path)
               if (found := find_operation(e["method"], e["path"])) is not None
               and (e["method"], found[0]) == operation]
    assert entries, f"{operation} was not exercised"
    assert [p for e in entries for p in check_exchange(e)] == []


def test_no_request_hit_the_servers_catch_all(recorded):
    """"internal error: ..." is the server's answer to an unexpected Python exception."""
    path, _ = recorded
    crashes = [f"{e['method']} {e['path']}: {e['body']['message']}" for e in read_entries(path)
               if isinstance(e.get("body"), dict)
               and str(e["body"].get("message", "")).startswith(("internal error",
                                                                 "malformed request"))]
    assert crashes == []


def test_versioned_and_unversioned_paths_are_recorded(recorded):
    path, _ = recorded
    entries = read_entries(path)
    assert any(e["path"].startswith("/v1.45/") and e["api_version"] == "1.45" for e in entries)
    assert any(e["path"] == "/_ping" for e in entries)


# -- the checker itself (no lab needed) --------------------------------------

NETWORK = {
    "Name": "n", "Id": "f" * 64, "Created": "2026-01-01T00:00:00Z", "Scope": "local",
    "Driver": "bridge", "EnableIPv6": False,
    "IPAM": {"Driver": "default", "Options": {}, "Config": [
        {"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}]},
    "Internal": False, "Attachable": False, "Ingress": False,
    "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
    "Options": {}, "Labels": {},
}


def exchange(method: str, path: str, status: int, body: Any, later: bool = False) -> dict:
    return {"method": method, "path": path, "api_version": "1.45", "status": status,
            "body": json.loads(json.dumps(body)), "later": later}


def test_checker_accepts_a_correct_network():
    assert check_exchange(exchange("GET", "/v1.45/networks/n", 200, NETWORK)) == []
    assert check_exchange(exchange("GET", "/networks", 200, [NETWORK, NETWORK])) == []


def test_checker_reports_a_wrong_body():
    wrong = {**NETWORK, "Name": 5, "Internal": "no"}
    problems = check_exchange(exchange("GET", "/v1.45/networks/n", 200, wrong))
    assert len(problems) == 2
    assert any("Name: 5 is not of type 'string'" in p for p in problems)
    assert any("Internal: 'no' is not of type 'boolean'" in p for p in problems)


def test_checker_follows_refs_into_definitions():
    nested = {**NETWORK, "IPAM": {"Config": [{"Subnet": 10}]}}
    (problem,) = check_exchange(exchange("GET", "/networks/n", 200, nested))
    assert "IPAM/Config/0/Subnet: 10 is not of type 'string'" in problem
    listed = check_exchange(exchange("GET", "/networks", 200, [NETWORK, nested]))
    assert ["1/IPAM/Config/0/Subnet" in p for p in listed] == [True]


def test_checker_matches_literal_paths_before_templates():
    ok = exchange("POST", "/v1.45/networks/create", 201, {"Id": "a" * 64, "Warning": ""})
    assert check_exchange(ok) == []
    assert check_exchange({**ok, "body": {"Id": 5}}) != []
    pruned = exchange("POST", "/networks/prune", 200, {"NetworksDeleted": ["x"]})
    assert check_exchange(pruned) == []
    assert check_exchange({**pruned, "body": {"NetworksDeleted": "x"}}) != []


def test_checker_requires_docker_error_bodies():
    assert check_exchange(exchange("GET", "/networks/x", 404, {"message": "nope"})) == []
    assert check_exchange(exchange("GET", "/networks/x", 404, {"msg": "nope"})) != []
    assert check_exchange(exchange("GET", "/networks/x", 404, {"message": 3})) != []
    assert check_exchange(exchange("GET", "/networks/x", 404, None)) != []
    # dockerd answers any error status with ErrorResponse, documented or not
    assert check_exchange(exchange("GET", "/networks", 400, {"message": "bad"})) == []


def test_checker_reports_missing_bodies_unless_streamed():
    assert check_exchange(exchange("POST", "/networks/create", 201, None)) != []
    assert check_exchange(exchange("GET", "/networks/n", 200, None)) != []
    assert check_exchange(exchange("POST", "/exec/abc/start", 200, None)) == []
    assert check_exchange(exchange("GET", "/containers/c/logs", 200, None)) == []
    assert check_exchange(exchange("POST", "/images/create", 200, None)) == []
    assert check_exchange(exchange("GET", "/_ping", 200, None)) == []
    assert check_exchange(exchange("HEAD", "/_ping", 200, None)) == []
    assert check_exchange(exchange("POST", "/containers/c/wait", 200, None, later=True)) == []
    assert check_exchange(exchange("POST", "/containers/c/wait", 200, None)) != []


def test_checker_reports_bodies_where_none_is_defined():
    assert check_exchange(exchange("DELETE", "/networks/n", 204, None)) == []
    assert check_exchange(exchange("DELETE", "/networks/n", 204, {"x": 1})) != []


def test_checker_reports_unknown_operations_and_statuses():
    assert check_exchange(exchange("GET", "/v1.45/nonsense", 200, {})) != []
    assert check_exchange(exchange("PATCH", "/networks/n", 200, {})) != []
    (problem,) = check_exchange(exchange("DELETE", "/networks/n", 200, None))
    assert "status 200 is not documented" in problem
    assert check_exchange(exchange("POST", "/exec/abc/start", 101, None)) == []
    assert check_exchange(exchange("POST", "/containers/c/attach", 101, None)) == []
    assert check_exchange(exchange("POST", "/networks/n/connect", 101, None)) != []
    assert check_exchange({"method": "GET", "path": "/networks", "status": None}) != []


def test_checker_lets_x_nullable_properties_be_null():
    settings = {"IPAMConfig": None, "DriverOpts": None, "NetworkID": "n", "IPAddress": ""}
    summary = {"Id": "c", "Names": ["/c"], "NetworkSettings": {"Networks": {"n": settings}}}
    assert check_exchange(exchange("GET", "/containers/json", 200, [summary])) == []
    settings["NetworkID"] = None
    (problem,) = check_exchange(exchange("GET", "/containers/json", 200, [summary]))
    assert "NetworkID: None is not of type 'string'" in problem


def test_checker_strict_mode_refuses_dockerd_nulls():
    predefined = {**NETWORK, "IPAM": {"Driver": "default", "Options": None, "Config": []}}
    entry = exchange("GET", "/networks/bridge", 200, predefined)
    assert check_exchange(entry) == []
    (problem,) = check_exchange(entry, strict=True)
    assert "IPAM/Options: None is not of type 'object'" in problem
    assert ("definitions", "IPAM", "properties", "Options") in DOCKERD_NULLS


def test_check_all_reads_json_lines(tmp_path):
    path = tmp_path / "record.jsonl"
    good = exchange("GET", "/networks/n", 200, NETWORK)
    bad = exchange("GET", "/networks/n", 200, {**NETWORK, "Id": 1})
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n\nnot json\n")
    problems = check_all(path)
    assert len(problems) == 2
    assert "Id: 1 is not of type 'string'" in problems[0]
    assert "no integer status" in problems[1]
    assert operations_of(path) == {("GET", "/networks/{id}")}
