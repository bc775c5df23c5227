"""Swarm mode through the real docker CLI (28.2), against two hosts of one lab.

h1 (192.0.2.11) initializes the swarm and h2 (192.0.2.12) joins it as a worker,
both with `docker swarm ...` on DOCKER_HOST=that host's socket. Every test starts
and ends with both hosts out of any swarm, with no containers and no networks of
their own, so the tests do not depend on their order. Packets go between
containers only (docker exec ... ping).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

import docker
import docker.errors
import pytest
from api_schema import check_all, operations_of, read_entries

import emulator.api.server as api_server
from emulator.api.shapes import swarm as swarm_shapes

DOCKER = shutil.which("docker") or "docker"
MANAGER_ADDR = "192.0.2.11"
WORKER_ADDR = "192.0.2.12"

NOT_IN_SWARM = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm '
                'join" to connect this node to swarm and try again.')
WORKER_NOT_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a "
    "manager.")
ALREADY_IN_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave '
                    "this swarm and join another one.")
LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
    "this message.")

pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")


# -- fixtures --------------------------------------------------------------------


def _reset(lab) -> None:
    """Both hosts out of any swarm, without containers or networks of their own."""
    engines = [lab.host(name).engine for name in ("h2", "h1")]  # workers leave first
    for engine in engines:
        engine.remove_containers(list(engine.containers), force=True)
    for engine in engines:
        if swarm_shapes.swarm_info(engine)["LocalNodeState"] != "inactive":
            engine.swarm_leave(force=True)
    for engine in engines:
        for network in list(engine.networks.values()):
            if not network.predefined:
                engine.remove_network(network.id)


class Cli:
    """`docker ARGS...` against one host of the lab."""

    def __init__(self, lab, config_dir: str) -> None:
        self.lab = lab
        self.base = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.base.update(DOCKER_CONFIG=config_dir, DOCKER_CLI_HINTS="false")

    def __call__(self, host: str, *args: str, input: str | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        env = {**self.base, "DOCKER_HOST": self.lab.docker_host_url(host)}
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                              input=input, timeout=timeout)


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("docker-config"))


@pytest.fixture
def cli(lab, config_dir) -> Iterator[Cli]:
    """Both hosts clean before and after the test."""
    _reset(lab)
    yield Cli(lab, config_dir)
    _reset(lab)


@dataclass
class SwarmOfTwo:
    cli: Cli
    token: str
    manager_id: str
    worker_id: str


@pytest.fixture
def swarm(cli) -> SwarmOfTwo:
    """h1 the manager, h2 a worker, both through the CLI."""
    ok(cli("h1", "swarm", "init"))
    token = ok(cli("h1", "swarm", "join-token", "-q", "worker")).strip()
    ok(cli("h2", "swarm", "join", "--token", token, f"{MANAGER_ADDR}:2377"))
    return SwarmOfTwo(cli, token, node_id(cli, "h1"), node_id(cli, "h2"))


@pytest.fixture
def api(lab) -> Iterator[dict[str, docker.APIClient]]:
    """docker-py's low-level clients of h1 and h2 (for statuses and headers)."""
    clients = {h: docker.APIClient(base_url=lab.docker_host_url(h), timeout=60)
               for h in ("h1", "h2")}
    yield clients
    for client in clients.values():
        client.close()


# -- helpers -----------------------------------------------------------------------


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0, (result.args, result.stdout)
    assert f"Error response from daemon: {message}" in result.stderr, result.stderr


def node_id(cli: Cli, host: str) -> str:
    return ok(cli(host, "info", "--format", "{{.Swarm.NodeID}}")).strip()


def swarm_state(cli: Cli, host: str) -> str:
    return ok(cli(host, "info", "--format",
                  "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")).strip()


def networks(cli: Cli, host: str) -> dict[str, tuple[str, str, str]]:
    """name -> (short id, driver, scope) of `docker network ls`."""
    lines = ok(cli(host, "network", "ls")).splitlines()
    assert lines[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = [line.split() for line in lines[1:]]
    return {name: (nid, driver, scope) for nid, name, driver, scope in rows}


def ip_on(cli: Cli, host: str, container: str, network: str) -> str:
    return ok(cli(host, "inspect", "-f",
                  f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
                  container)).strip()


def pings(cli: Cli, host: str, container: str, address: str) -> bool:
    return cli(host, "exec", container, "ping", "-c", "1", "-W", "1", address).returncode == 0


def ping_header(client: docker.APIClient) -> str:
    response = client._get(client._url("/_ping", versioned_api=False))
    response.raise_for_status()
    return response.headers["Swarm"]


def api_error(call) -> docker.errors.APIError:
    with pytest.raises(docker.errors.APIError) as caught:
        call()
    return caught.value


# -- init and join -------------------------------------------------------------------


def test_swarm_init_prints_the_node_id_and_the_join_command(cli):
    out = ok(cli("h1", "swarm", "init"))
    lines = out.splitlines()
    found = re.fullmatch(r"Swarm initialized: current node \((\w+)\) is now a manager\.",
                         lines[0])
    assert found, out
    assert found.group(1) == node_id(cli, "h1")
    assert re.fullmatch(r"[0-9a-z]{25}", found.group(1))
    join = [line for line in lines if "docker swarm join --token" in line]
    assert len(join) == 1, out
    command = re.fullmatch(r"    docker swarm join --token (SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}) "
                           r"(\S+)", join[0])
    assert command, join[0]
    assert command.group(2) == f"{MANAGER_ADDR}:2377"
    assert command.group(1) == ok(cli("h1", "swarm", "join-token", "-q", "worker")).strip()
    assert "To add a worker to this swarm, run the following command:" in lines
    assert ("To add a manager to this swarm, run 'docker swarm join-token manager' and follow "
            "the instructions.") in lines
    manager_token = ok(cli("h1", "swarm", "join-token", "-q", "manager")).strip()
    assert manager_token.startswith("SWMTKN-1-") and manager_token != command.group(1)


def test_swarm_join_as_a_worker_and_both_report_an_active_swarm(cli):
    assert swarm_state(cli, "h1") == "inactive false"
    ok(cli("h1", "swarm", "init"))
    token = ok(cli("h1", "swarm", "join-token", "-q", "worker")).strip()
    out = ok(cli("h2", "swarm", "join", "--token", token, f"{MANAGER_ADDR}:2377"))
    assert out == "This node joined a swarm as a worker.\n"
    assert swarm_state(cli, "h1") == "active true"
    assert swarm_state(cli, "h2") == "active false"
    (manager,) = json.loads(ok(cli("h2", "info", "--format",
                                   "{{json .Swarm.RemoteManagers}}")))
    assert manager == {"NodeID": node_id(cli, "h1"), "Addr": f"{MANAGER_ADDR}:2377"}
    assert ok(cli("h2", "info", "--format", "{{.Swarm.NodeAddr}}")).strip() == WORKER_ADDR
    assert ok(cli("h1", "info", "--format", "{{.Swarm.Nodes}} {{.Swarm.Managers}}")
              ).strip() == "2 1"


def test_docker_info_shows_the_swarm_section_on_manager_and_worker(swarm):
    manager = ok(swarm.cli("h1", "info"))
    assert " Swarm: active" in manager.splitlines()
    assert f"  NodeID: {swarm.manager_id}" in manager.splitlines()
    assert "  Is Manager: true" in manager.splitlines()
    assert "  Data Path Port: 4789" in manager.splitlines()
    worker = ok(swarm.cli("h2", "info"))
    assert "  Is Manager: false" in worker.splitlines()
    assert f"  Node Address: {WORKER_ADDR}" in worker.splitlines()


def test_a_manager_token_joins_as_a_manager(cli):
    ok(cli("h1", "swarm", "init"))
    token = ok(cli("h1", "swarm", "join-token", "-q", "manager")).strip()
    out = ok(cli("h2", "swarm", "join", "--token", token, f"{MANAGER_ADDR}:2377"))
    assert out == "This node joined a swarm as a manager.\n"
    assert swarm_state(cli, "h2") == "active true"
    roles = ok(cli("h2", "node", "ls", "--format", "{{.Hostname}} {{.Self}}")).split("\n")
    assert sorted(r for r in roles if r) == ["h1 false", "h2 true"]


def test_join_with_a_wrong_token_or_manager_address_is_refused(cli):
    ok(cli("h1", "swarm", "init"))
    token = ok(cli("h1", "swarm", "join-token", "-q", "worker")).strip()
    wrong = token[:-25] + "0" * 25
    refused(cli("h2", "swarm", "join", "--token", wrong, f"{MANAGER_ADDR}:2377"),
            "rpc error: code = InvalidArgument desc = A valid join token is necessary to join "
            "this cluster")
    refused(cli("h2", "swarm", "join", "--token", token, "192.0.2.99:2377"),
            "Timeout was reached before node joined.")
    assert swarm_state(cli, "h2") == "inactive false"


def test_init_or_join_twice_is_refused(swarm):
    refused(swarm.cli("h1", "swarm", "init"), ALREADY_IN_SWARM)
    refused(swarm.cli("h2", "swarm", "join", "--token", swarm.token, f"{MANAGER_ADDR}:2377"),
            ALREADY_IN_SWARM)


def test_data_path_port_out_of_range_is_refused(cli):
    refused(cli("h1", "swarm", "init", "--data-path-port", "80"),
            "Datapath port number is not in valid range (1024-49151) : 80")
    assert swarm_state(cli, "h1") == "inactive false"


def test_init_options_reach_the_swarm(cli):
    ok(cli("h1", "swarm", "init", "--data-path-port", "4790", "--default-addr-pool",
           "10.77.0.0/16", "--default-addr-pool-mask-length", "26"))
    cluster = json.loads(ok(cli("h1", "info", "--format", "{{json .Swarm.Cluster}}")))
    assert cluster["DataPathPort"] == 4790
    assert cluster["DefaultAddrPool"] == ["10.77.0.0/16"] and cluster["SubnetSize"] == 26
    ok(cli("h1", "network", "create", "-d", "overlay", "ov"))
    for name in ("ingress", "ov"):
        subnet = IPv4Network(ok(cli("h1", "network", "inspect", "-f",
                                    "{{(index .IPAM.Config 0).Subnet}}", name)).strip())
        assert subnet.prefixlen == 26 and subnet.subnet_of(IPv4Network("10.77.0.0/16"))


# -- nodes ---------------------------------------------------------------------------


def test_node_ls_on_the_manager_lists_both_nodes(swarm):
    lines = ok(swarm.cli("h1", "node", "ls")).splitlines()
    assert lines[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER",
                                "STATUS", "ENGINE", "VERSION"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows[swarm.manager_id][:5] == ["*", "h1", "Ready", "Active", "Leader"]
    assert rows[swarm.worker_id][:3] == ["h2", "Ready", "Active"]
    formatted = ok(swarm.cli("h1", "node", "ls", "--format",
                             "{{.Hostname}} {{.Self}} {{.ManagerStatus}}")).splitlines()
    assert sorted(formatted) == ["h1 true Leader", "h2 false "]
    assert ok(swarm.cli("h1", "node", "ls", "-q", "--filter", "role=worker")).split() == [
        swarm.worker_id]


def test_node_inspect_by_id_name_and_self(swarm):
    cli = swarm.cli
    assert ok(cli("h1", "node", "inspect", "-f", "{{.Spec.Role}} {{.Status.Addr}}", "h2")
              ).strip() == f"worker {WORKER_ADDR}"
    assert ok(cli("h1", "node", "inspect", "-f", "{{.ID}}", swarm.worker_id[:6])).strip() == \
        swarm.worker_id
    assert ok(cli("h1", "node", "inspect", "-f", "{{.Description.Hostname}} "
                  "{{.ManagerStatus.Addr}}", "self")).strip() == f"h1 {MANAGER_ADDR}:2377"
    missing = cli("h1", "node", "inspect", "nosuchnode")
    assert missing.returncode != 0 and "nosuchnode" in missing.stderr, missing.stderr


def test_node_ls_on_a_worker_fails_with_dockers_message(swarm, api):
    refused(swarm.cli("h2", "node", "ls"), WORKER_NOT_MANAGER)
    error = api_error(lambda: api["h2"].nodes())
    assert error.status_code == 503 and error.explanation == WORKER_NOT_MANAGER


def test_node_ls_outside_a_swarm_fails_with_dockers_message(cli, api):
    refused(cli("h1", "node", "ls"), NOT_IN_SWARM)
    error = api_error(lambda: api["h1"].inspect_swarm())
    assert error.status_code == 503 and error.explanation == NOT_IN_SWARM


# -- networks ------------------------------------------------------------------------


def test_network_ls_shows_ingress_and_docker_gwbridge_on_both_nodes(swarm):
    on_manager, on_worker = networks(swarm.cli, "h1"), networks(swarm.cli, "h2")
    for listed in (on_manager, on_worker):
        assert listed["ingress"][1:] == ("overlay", "swarm")
        assert listed["docker_gwbridge"][1:] == ("bridge", "local")
        assert set(listed) == {"bridge", "docker_gwbridge", "host", "ingress", "none"}
    assert on_manager["ingress"][0] == on_worker["ingress"][0], "one swarm-wide ID"
    assert on_manager["docker_gwbridge"][0] != on_worker["docker_gwbridge"][0]
    ingress = json.loads(ok(swarm.cli("h1", "network", "inspect", "ingress")))[0]
    assert ingress["Ingress"] is True and ingress["Scope"] == "swarm"
    options = json.loads(ok(swarm.cli("h1", "network", "inspect", "-f", "{{json .Options}}",
                                      "docker_gwbridge")))
    assert options["com.docker.network.bridge.enable_icc"] == "false"


def test_overlay_create_works_on_the_manager_and_is_refused_on_a_worker(swarm):
    created = ok(swarm.cli("h1", "network", "create", "-d", "overlay", "--attachable", "ov"))
    assert re.fullmatch(r"[0-9a-z]{25}\n", created), created
    assert networks(swarm.cli, "h1")["ov"][1:] == ("overlay", "swarm")
    refused(swarm.cli("h2", "network", "create", "-d", "overlay", "--attachable", "ov2"),
            NOT_IN_SWARM)
    refused(swarm.cli("h1", "network", "create", "-d", "overlay", "ov"),
            "network with name ov already exists")


def test_overlay_create_outside_a_swarm_is_refused(cli):
    refused(cli("h1", "network", "create", "-d", "overlay", "ov"), NOT_IN_SWARM)


def test_containers_on_an_attachable_overlay_reach_each_other_across_hosts(swarm):
    cli = swarm.cli
    ok(cli("h1", "network", "create", "-d", "overlay", "--attachable", "ov"))
    assert "ov" not in networks(cli, "h2"), "a worker makes a swarm network on first use"
    ok(cli("h1", "run", "-d", "--name", "xa", "--network", "ov", "alpine", "sleep", "infinity"))
    ok(cli("h2", "run", "-d", "--name", "xb", "--network", "ov", "alpine", "sleep", "infinity"))
    assert networks(cli, "h2")["ov"][0] == networks(cli, "h1")["ov"][0]
    subnet = IPv4Network(ok(cli("h1", "network", "inspect", "-f",
                                "{{(index .IPAM.Config 0).Subnet}}", "ov")).strip())
    first, second = ip_on(cli, "h1", "xa", "ov"), ip_on(cli, "h2", "xb", "ov")
    assert first != second
    assert IPv4Address(first) in subnet and IPv4Address(second) in subnet
    assert pings(cli, "h1", "xa", second)
    assert pings(cli, "h2", "xb", first)


def test_ingress_cannot_be_removed(swarm):
    result = swarm.cli("h1", "network", "rm", "ingress", input="y\n")
    assert "Are you sure you want to continue? [y/N]" in result.stdout + result.stderr
    refused(result, "rpc error: code = FailedPrecondition desc = ingress network cannot be "
                    "removed")
    assert "ingress" in networks(swarm.cli, "h1")


def test_a_second_ingress_network_is_refused(swarm):
    result = swarm.cli("h1", "network", "create", "-d", "overlay", "--ingress", "ingress2")
    refused(result, "rpc error: code = AlreadyExists desc = ingress network")
    assert "is already present" in result.stderr
    assert "ingress2" not in networks(swarm.cli, "h1")


def test_a_non_attachable_overlay_refuses_docker_run(swarm):
    ok(swarm.cli("h1", "network", "create", "-d", "overlay", "plain"))
    result = swarm.cli("h1", "run", "-d", "--name", "xc", "--network", "plain", "alpine",
                       "sleep", "infinity")
    refused(result, "Could not attach to network plain: rpc error: code = PermissionDenied "
                    "desc = network plain not manually attachable")
    result = swarm.cli("h1", "run", "-d", "--name", "xd", "--network", "ingress", "alpine",
                       "sleep", "infinity")
    assert result.returncode != 0 and "not manually attachable" in result.stderr


# -- leave ---------------------------------------------------------------------------


def test_leave_the_last_manager_needs_force(swarm):
    cli = swarm.cli
    refused(cli("h1", "swarm", "leave"), LAST_MANAGER)
    assert swarm_state(cli, "h1") == "active true"
    assert ok(cli("h2", "swarm", "leave")) == "Node left the swarm.\n"
    assert swarm_state(cli, "h2") == "inactive false"
    assert ok(cli("h1", "swarm", "leave", "--force")) == "Node left the swarm.\n"
    assert swarm_state(cli, "h1") == "inactive false"
    listed = networks(cli, "h1")
    assert "ingress" not in listed
    assert set(listed) - {"docker_gwbridge"} == {"bridge", "host", "none"}
    refused(cli("h1", "swarm", "leave"), "This node is not part of a swarm")


def test_leave_drops_the_swarm_networks_and_a_new_swarm_starts_afresh(swarm):
    cli = swarm.cli
    ok(cli("h1", "network", "create", "-d", "overlay", "--attachable", "ov"))
    ok(cli("h1", "swarm", "leave", "--force"))
    assert "ov" not in networks(cli, "h1")
    ok(cli("h1", "swarm", "init"))
    assert node_id(cli, "h1") != swarm.manager_id
    assert "ov" not in networks(cli, "h1")
    assert "ingress" in networks(cli, "h1")


# -- the Engine API underneath -------------------------------------------------------


def test_ping_carries_the_swarm_status(cli, api):
    assert ping_header(api["h1"]) == "inactive"
    ok(cli("h1", "swarm", "init"))
    token = ok(cli("h1", "swarm", "join-token", "-q", "worker")).strip()
    ok(cli("h2", "swarm", "join", "--token", token, f"{MANAGER_ADDR}:2377"))
    assert ping_header(api["h1"]) == "active/manager"
    assert ping_header(api["h2"]) == "active/worker"
    ok(cli("h2", "swarm", "leave"))
    assert ping_header(api["h2"]) == "inactive"


def test_services_and_tasks_are_empty_on_a_manager(swarm, api):
    assert ok(swarm.cli("h1", "service", "ls")).splitlines() == [
        "ID        NAME      MODE      REPLICAS   IMAGE     PORTS"]
    assert api["h1"].services() == [] and api["h1"].tasks() == []
    assert api_error(lambda: api["h1"].inspect_service("web")).status_code == 404
    refused(swarm.cli("h2", "service", "ls"), WORKER_NOT_MANAGER)
    assert api_error(lambda: api["h2"].tasks()).status_code == 503


def test_unimplemented_swarm_endpoints_answer_501(swarm, api):
    refused(swarm.cli("h1", "swarm", "update", "--autolock"),
            "POST /swarm/update is not implemented by the cnm-emulator Engine API")
    error = api_error(lambda: api["h1"].unlock_swarm("SWMKEY-1-x"))
    assert error.status_code == 501 and "POST /swarm/unlock" in error.explanation
    assert swarm_state(swarm.cli, "h1") == "active true"


def test_api_errors_carry_dockers_statuses(cli, api):
    h1, h2 = api["h1"], api["h2"]
    error = api_error(lambda: h1.init_swarm(data_path_port=80))
    assert error.status_code == 500
    node = h1.init_swarm()
    assert re.fullmatch(r"[0-9a-z]{25}", node)
    assert api_error(lambda: h1.init_swarm()).status_code == 503
    assert api_error(lambda: h1.leave_swarm()).status_code == 503
    assert api_error(lambda: h1.inspect_node("nosuchnode")).status_code == 404
    assert api_error(lambda: h1.nodes(filters={"colour": "red"})).status_code == 400
    missing = h2._post_json(h2._url("/swarm/join"), data={"JoinToken": "SWMTKN-1-x"})
    assert missing.status_code == 400
    assert missing.json() == {"message": "at least 1 RemoteAddr is required to join"}
    assert h1.inspect_node(node)["ID"] == node
    assert api_error(lambda: h2.leave_swarm()).status_code == 503


def test_swarm_answers_match_the_v145_spec(cli, api, tmp_path):
    """Every exchange of an init/join/inspect/leave session validates against the spec."""
    record = tmp_path / "exchanges.jsonl"
    record.touch()
    previous, api_server._RECORD = api_server._RECORD, str(record)
    try:
        h1, h2 = api["h1"], api["h2"]
        h1.ping()
        h1.init_swarm(advertise_addr=MANAGER_ADDR, default_addr_pool=["10.88.0.0/16"],
                      subnet_size=24)
        token = h1.inspect_swarm()["JoinTokens"]["Worker"]
        h2.join_swarm([f"{MANAGER_ADDR}:2377"], token)
        h1.ping()
        for client in (h1, h2):
            client.info()
        nodes = h1.nodes()
        h1.inspect_node(nodes[0]["ID"])
        h1.services()
        h1.tasks()
        for call in (lambda: h2.nodes(), lambda: h1.init_swarm(),
                     lambda: h1.inspect_node("nosuchnode"), lambda: h1.leave_swarm()):
            api_error(call)
        h2.leave_swarm()
        h1.leave_swarm(force=True)
        api_error(lambda: h1.inspect_swarm())
    finally:
        api_server._RECORD = previous
    covered = operations_of(record)
    for operation in [("POST", "/swarm/init"), ("POST", "/swarm/join"), ("POST", "/swarm/leave"),
                      ("GET", "/swarm"), ("GET", "/nodes"), ("GET", "/nodes/{id}"),
                      ("GET", "/services"), ("GET", "/tasks"), ("GET", "/info")]:
        assert operation in covered
    assert check_all(record) == []
    messages = [e["body"].get("message", "") for e in read_entries(record)
                if isinstance(e.get("body"), dict)]
    assert not [m for m in messages if m.startswith(("internal error", "malformed request"))]


def test_info_does_not_carry_the_join_tokens(swarm, api):
    cluster = api["h1"].info()["Swarm"]["Cluster"]
    assert cluster["ID"] == api["h1"].inspect_swarm()["ID"]
    assert "JoinTokens" not in cluster
