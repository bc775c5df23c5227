"""Swarm services through the real docker CLI (28.2), on a three-host lab.

h1 (192.0.2.11) initializes the swarm, h2 and h3 join it as workers, all with
`docker swarm ...`. A service is created, listed, inspected, scaled and removed
with `docker service ...` on h1, as a user would; the refusals are compared with
dockerd's texts. The swarm is made once for the module (the tests leave no
service behind) and dissolved at its end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import docker
import docker.errors
import pytest
from api_schema import check_all, operations_of

import emulator.api.server as api_server
from emulator.lab.lab import Lab
from emulator.topology import load_topology_text

DOCKER = shutil.which("docker") or "docker"
TOPOLOGY = """
name: services
hosts:
  h1: {}
  h2: {}
  h3: {}
"""
WORKER_NOT_MANAGER = (
    "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
    "state. Please run this command on a manager node or promote the current node to a "
    "manager.")
NO_DIGEST = ("image alpine:latest could not be accessed on a registry to record\nits digest. "
             "Each node will access alpine:latest independently,\npossibly leading to "
             "different nodes running different\nversions of the image.")
WEB = ["--name", "web", "--replicas", "3", "--publish", "8080:80", "alpine", "nc", "-ll", "-p",
       "80", "-e", "hostname"]

pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")


class Cli:
    """`docker ARGS...` against one host of the lab."""

    def __init__(self, lab: Lab, config_dir: str) -> None:
        self.lab = lab
        self.base = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.base.update(DOCKER_CONFIG=config_dir, DOCKER_CLI_HINTS="false")

    def __call__(self, host: str, *args: str, timeout: float = 120,
                 ) -> subprocess.CompletedProcess:
        env = {**self.base, "DOCKER_HOST": self.lab.docker_host_url(host)}
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                              timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode != 0, (result.args, result.stdout)
    assert f"Error response from daemon: {message}" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Iterator[Cli]:
    with Lab(load_topology_text(TOPOLOGY), "ap" + secrets.token_hex(3)) as lab:
        docker = Cli(lab, str(tmp_path_factory.mktemp("docker-config")))
        ok(docker("h1", "swarm", "init"))
        token = ok(docker("h1", "swarm", "join-token", "-q", "worker")).strip()
        for host in ("h2", "h3"):
            ok(docker(host, "swarm", "join", "--token", token, "192.0.2.11:2377"))
        yield docker
        for host in ("h3", "h2", "h1"):
            docker(host, "swarm", "leave", "--force")


@pytest.fixture
def swarm(cli: Cli) -> Iterator[Cli]:
    """No service before or after a test."""
    yield cli
    names = ok(cli("h1", "service", "ls", "-q")).split()
    if names:
        ok(cli("h1", "service", "rm", *names))


def table(text: str) -> list[list[str]]:
    """The rows of a CLI table, split on runs of two or more spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]


def test_a_service_created_listed_inspected_scaled_and_removed(swarm: Cli) -> None:
    created = swarm("h1", "service", "create", *WEB)
    out = ok(created)
    service_id = out.splitlines()[0]
    assert re.fullmatch(r"[0-9a-z]{25}", service_id), out
    assert f"verify: Service {service_id} converged" in out
    assert NO_DIGEST in created.stderr

    rows = table(ok(swarm("h1", "service", "ls")))
    assert rows[0] == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert rows[1:] == [[service_id[:12], "web", "replicated", "3/3", "alpine:latest",
                         "*:8080->80/tcp"]]

    rows = table(ok(swarm("h1", "service", "ps", "web")))
    assert rows[0] == ["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE",
                       "ERROR", "PORTS"]
    tasks = sorted(rows[1:], key=lambda r: r[1])
    assert [r[1] for r in tasks] == ["web.1", "web.2", "web.3"]
    assert sorted(r[3] for r in tasks) == ["h1", "h2", "h3"]
    for row in tasks:
        assert row[4] == "Running" and row[5].startswith("Running "), row

    shown = json.loads(ok(swarm("h1", "service", "inspect", "web")))[0]
    ingress = json.loads(ok(swarm("h1", "network", "inspect", "ingress")))[0]
    assert shown["ID"] == service_id
    assert shown["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    assert shown["Endpoint"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80,
                                           "PublishedPort": 8080, "PublishMode": "ingress"}]
    [vip] = shown["Endpoint"]["VirtualIPs"]
    assert vip["NetworkID"] == ingress["Id"]
    assert re.fullmatch(r"10\.0\.0\.\d+/24", vip["Addr"]), vip
    pretty = ok(swarm("h1", "service", "inspect", "--pretty", "web"))
    assert "Name:\t\tweb" in pretty and " Replicas:\t3" in pretty

    scaled = ok(swarm("h1", "service", "scale", "web=1"))
    assert "web scaled to 1" in scaled and "verify: Service web converged" in scaled
    rows = table(ok(swarm("h1", "service", "ls")))
    assert rows[1][3] == "1/1"
    running = [r for r in table(ok(swarm("h1", "service", "ps", "web")))[1:]
               if r[4] == "Running"]
    assert len(running) == 1
    rolled = ok(swarm("h1", "service", "rollback", "web"))
    assert "verify: Service web converged" in rolled, rolled
    assert table(ok(swarm("h1", "service", "ls")))[1][3] == "3/3"

    assert ok(swarm("h1", "service", "rm", "web")).strip() == "web"
    assert table(ok(swarm("h1", "service", "ls")))[1:] == []
    refused(swarm("h1", "service", "rm", "web"), "service web not found")


REFUSALS = [
    ("worker-create", "h2", ["alpine"], WORKER_NOT_MANAGER),
    ("worker-ls", "h2", None, WORKER_NOT_MANAGER),
    ("unknown-network", "h1", ["--network", "nosuch", "alpine"], "network nosuch not found"),
    ("bridge-network", "h1", ["--network", "bridge", "alpine"],
     "The network bridge cannot be used with services. Only networks scoped to the swarm can "
     "be used, such as those created with the overlay driver."),
    ("name-conflict", "h1", ["--name", "web", "alpine"],
     "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service "
     "web already exists"),
    ("port-conflict", "h1", ["--publish", "8080:80", "alpine"],
     "rpc error: code = InvalidArgument desc = port '8080' is already in use by service 'web' "
     "({web}) as an ingress port"),
    ("unnamed", "h1", ["--publish", "9090:80", "alpine"], None),
    ("mount", "h1", ["--mount", "type=tmpfs,target=/data", "alpine"],
     "TaskTemplate.ContainerSpec.Mounts is not supported by the emulator"),
    ("global", "h1", ["--mode", "global", "alpine"],
     "global mode (--mode global) is not supported by the emulator"),
]
"""(case, host, `docker service create --detach` arguments (None: `service ls`), dockerd's
text (None: accepted)), with a service `web` publishing 8080 in place."""


@pytest.mark.parametrize(("case", "host", "args", "message"), [
    pytest.param(*r, id=r[0]) for r in REFUSALS])
def test_refusals_carry_dockerds_texts(swarm: Cli, case: str, host: str,
                                       args: list[str] | None, message: str | None) -> None:
    web = ok(swarm("h1", "service", "create", "--detach", "--name", "web", "--publish",
                   "8080:80", "alpine", "sleep", "1d")).splitlines()[0]
    name = [] if case in ("name-conflict", "unnamed") else ["--name", "other"]
    result = swarm(host, "service", "ls") if args is None else swarm(
        host, "service", "create", "--detach", *name, *args)
    if message is None:
        ok(result)
    else:
        refused(result, message.format(web=web))
    names = ok(swarm("h1", "service", "ls", "--format", "{{.Name}}")).split()
    assert ("web" in names) and (len(names) == 1 + (message is None))


def test_docker_py_services_and_the_v145_spec(swarm: Cli, tmp_path) -> None:
    """docker-py's services API; every exchange validates against the spec."""
    record = tmp_path / "exchanges.jsonl"
    record.touch()
    previous, api_server._RECORD = api_server._RECORD, str(record)
    client = docker.DockerClient(base_url=swarm.lab.docker_host_url("h1"), timeout=60)
    try:
        service = client.services.create(
            "alpine", ["sleep", "1d"], name="api",
            endpoint_spec=docker.types.EndpointSpec(ports={9000: 90}),
            mode=docker.types.ServiceMode("replicated", replicas=2))
        assert [s.name for s in client.services.list()] == ["api"]
        tasks = service.tasks(filters={"desired-state": "running"})
        assert len(tasks) == 2
        assert {t["Status"]["State"] for t in tasks} == {"running"}
        assert service.scale(3)
        service.reload()
        assert service.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
        assert len(service.tasks(filters={"desired-state": "running"})) == 3
        client.api.inspect_task(tasks[0]["ID"])
        with pytest.raises(docker.errors.APIError) as stale:
            client.api.update_service(service.id, service.version - 1,
                                      docker.types.TaskTemplate(
                                          docker.types.ContainerSpec("alpine")), name="api")
        assert stale.value.status_code == 500
        assert "update out of sequence" in stale.value.explanation
        service.remove()
        assert client.services.list() == []
    finally:
        client.close()
        api_server._RECORD = previous
    covered = operations_of(record)
    for operation in [("POST", "/services/create"), ("GET", "/services"),
                      ("GET", "/services/{id}"), ("POST", "/services/{id}/update"),
                      ("DELETE", "/services/{id}"), ("GET", "/tasks"), ("GET", "/tasks/{id}")]:
        assert operation in covered
    assert check_all(record) == []
