"""The remote protocol as Docker speaks it, checked on both engines with one plugin.

The same recording plugin (plugins/recording.py) runs under an emulated host and
under the lab's real dockerd 20.10; each test does what a user or a plugin author
would (the docker CLI, the plugin's own record of what it was sent, the host's
links) and asserts what both engines do alike. Where Docker 20.10 and 28 differ
(enable_ipv4 is new in 28; the emulator speaks 28), the assertion says so.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.lab import Lab
from emulator.lab.state import RunDir
from emulator.probes.namespaced import popen_in
from emulator.topology import topology_from_data

PLUGIN = Path(__file__).parent / "plugins" / "recording.py"
ONE_HOST = {"name": "remote18", "hosts": {"h1": {}}}


class Engine:
    """One lab with one Docker host, its docker CLI, and the plugins started on it."""

    def __init__(self, lab: Lab, kind: str, records: Path) -> None:
        self.lab, self.kind, self.records = lab, kind, records
        self.plugins: list[subprocess.Popen] = []

    def docker(self, *argv: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": f"unix://{RunDir(self.lab.name).socket('h1')}"}
        return subprocess.run(["docker", *argv], capture_output=True, text=True, env=env,
                              timeout=90)

    def ok(self, *argv: str) -> str:
        done = self.docker(*argv)
        assert done.returncode == 0, f"docker {' '.join(argv)}: {done.stderr}"
        return done.stdout.strip()

    def plugin(self, *options: str) -> str:
        """Start a recording plugin under a fresh name; its name."""
        name = "rec" + secrets.token_hex(3)
        sock = self.lab.plugin_dir("h1") / f"{name}.sock"
        proc = popen_in(self.lab.node_pid("h1"), [sys.executable, str(PLUGIN), str(sock),
                                                  str(self.records / f"{name}.jsonl"),
                                                  *options], self.lab.process_env)
        self.plugins.append(proc)
        deadline = time.monotonic() + 20
        while not sock.is_socket():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "it ended"
            assert time.monotonic() < deadline, "the plugin never made its socket"
            time.sleep(0.02)
        return name

    def sent(self, plugin: str, call: str) -> list[dict]:
        """What the plugin recorded for NetworkDriver.CALL, in order."""
        path = self.records / f"{plugin}.jsonl"
        entries = [json.loads(line) for line in path.read_text().splitlines()]
        return [e for e in entries if e["call"] == f"NetworkDriver.{call}"]

    def host_links(self) -> dict[str, bool]:
        """The Docker host's links: name -> up."""
        _, out = self.lab.node_exec("h1", ["ip", "-o", "link", "show"])
        return {line.split(":")[1].strip().split("@")[0]: ",UP" in line.split(">")[0]
                for line in out.splitlines()}

    def reset(self) -> None:
        containers = self.ok("ps", "-aq").split()
        if containers:
            self.docker("rm", "-f", *containers)
        for name in self.ok("network", "ls", "--format", "{{.Name}}").split():
            if name not in ("bridge", "host", "none"):
                self.docker("network", "rm", name)
        for proc in self.plugins:
            proc.terminate()
            proc.wait(10)
        self.plugins.clear()


@pytest.fixture(scope="module", params=["emulated", "docker"])
def engine(request, tmp_path_factory) -> Iterator[Engine]:
    records = tmp_path_factory.mktemp(f"records-{request.param}")
    records.chmod(0o777)
    name = "rp" + secrets.token_hex(3)
    with Lab(topology_from_data(ONE_HOST), name, engine=request.param) as lab:
        running = Engine(lab, request.param, records)
        try:
            yield running
        finally:
            running.reset()


@pytest.fixture
def docker(engine: Engine) -> Iterator[Engine]:
    yield engine
    engine.reset()


def test_create_network_carries_internal_and_the_driver_options_not_the_labels(docker):
    plugin = docker.plugin()
    docker.ok("network", "create", "-d", plugin, "--internal", "--label", "team=blue",
              "-o", "foo=bar", "--subnet", "10.181.0.0/24", "inside")
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.182.0.0/24", "outside")
    internal, plain = (call["body"] for call in docker.sent(plugin, "CreateNetwork"))
    assert internal["Options"]["com.docker.network.internal"] is True
    assert internal["Options"]["com.docker.network.generic"] == {"foo": "bar"}
    assert "com.docker.network.internal" not in plain["Options"]
    for body in (internal, plain):
        assert body["Options"]["com.docker.network.enable_ipv6"] is False
        assert body["Options"].get("com.docker.network.enable_ipv4", True) is True  # 28 only
        assert "team" not in json.dumps(body)
    assert plain["IPv4Data"] == [{"AddressSpace": "LocalDefault", "Pool": "10.182.0.0/24",
                                  "Gateway": "10.182.0.1/24"}]


def test_a_join_without_gateway_gets_an_endpoint_on_docker_gwbridge(docker):
    plugin = docker.plugin("--no-gateway")
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.183.0.0/24", "nogw")
    docker.ok("run", "-d", "--name", "c1", "--network", "nogw", "busybox", "sleep", "600")
    gateway = json.loads(docker.ok("network", "inspect", "docker_gwbridge", "--format",
                                   "{{json .IPAM.Config}}"))[0]["Gateway"]
    routes = docker.ok("exec", "c1", "ip", "route")
    assert f"default via {gateway} dev eth1" in routes
    networks = json.loads(docker.ok("inspect", "-f", "{{json .NetworkSettings.Networks}}",
                                    "c1"))
    assert list(networks) == ["nogw"]  # the gateway_ endpoint is not the user's
    assert docker.docker("exec", "c1", "ping", "-c1", "-W2", gateway).returncode == 0


def test_on_leave_the_interface_comes_back_to_the_host_down_under_its_src_name(docker):
    plugin = docker.plugin("--keep-veth")
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.184.0.0/24", "keep")
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.185.0.0/24", "keep2")
    docker.ok("run", "-d", "--name", "c1", "--network", "keep", "busybox", "sleep", "600")
    docker.ok("network", "connect", "keep2", "c1")
    first, second = (j["reply"]["InterfaceName"]["SrcName"]
                     for j in docker.sent(plugin, "Join"))
    assert first not in docker.host_links()
    docker.ok("network", "disconnect", "keep", "c1")
    assert docker.host_links().get(first) is False, "not back on the host, down"
    docker.ok("rm", "-f", "c1")
    assert docker.host_links().get(second) is False, "not back on the host after rm -f"


def test_a_failing_leave_and_delete_endpoint_do_not_stop_disconnect_or_rm(docker):
    plugin = docker.plugin("--fail", "Leave", "--fail", "DeleteEndpoint")
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.186.0.0/24", "failing")
    docker.ok("run", "-d", "--name", "c1", "--network", "failing", "busybox", "sleep", "600")
    docker.ok("run", "-d", "--name", "c2", "--network", "failing", "busybox", "sleep", "600")
    docker.ok("network", "disconnect", "failing", "c1")
    docker.ok("rm", "-f", "c2")
    assert docker.ok("ps", "-a", "--format", "{{.Names}}") == "c1"
    docker.ok("stop", "-t", "0", "c1")
    assert docker.ok("ps", "-a", "--format", "{{.Status}}").startswith("Exited")
    docker.ok("network", "rm", "failing")
    assert len(docker.sent(plugin, "Leave")) == 2
    assert len(docker.sent(plugin, "DeleteEndpoint")) == 2


def test_an_address_echoed_by_create_endpoint_is_refused_with_docker_s_text(docker):
    plugin = docker.plugin("--echo-address")
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.187.0.0/24", "echo")
    done = docker.docker("run", "-d", "--name", "c1", "--network", "echo", "busybox",
                         "sleep", "600")
    assert done.returncode == 125
    assert ("Error response from daemon: failed to create endpoint c1 on network echo: "
            "driver modified interface address: endpoint interface IP present "
            "(10.187.0.2/24). Cannot be modified with (10.187.0.2/24).; rolled back"
            ) in done.stderr
    (created,) = docker.sent(plugin, "CreateEndpoint")
    (deleted,) = docker.sent(plugin, "DeleteEndpoint")
    assert deleted["body"]["EndpointID"] == created["body"]["EndpointID"]


def test_a_restarted_plugin_keeps_the_capability_it_first_stated(docker):
    plugin = docker.plugin()
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.188.0.0/24", "first")
    docker.plugins[-1].terminate()
    docker.plugins[-1].wait(10)
    (docker.lab.plugin_dir("h1") / f"{plugin}.sock").unlink(missing_ok=True)
    sock = docker.lab.plugin_dir("h1") / f"{plugin}.sock"
    docker.plugins.append(popen_in(docker.lab.node_pid("h1"), [
        sys.executable, str(PLUGIN), str(sock), str(docker.records / f"{plugin}.jsonl"),
        "--scope", "global"], docker.lab.process_env))
    deadline = time.monotonic() + 20
    while not sock.is_socket():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.189.0.0/24", "second")
    scopes = docker.ok("network", "ls", "--filter", f"driver={plugin}", "--format",
                       "{{.Name}} {{.Scope}}")
    assert sorted(scopes.splitlines()) == ["first local", "second local"]


def test_the_sandbox_key_opens_the_container_s_namespace_and_goes_with_it(docker):
    if docker.kind == "docker":
        pytest.skip("the lab's dockerd mounts its netns files in a private mount namespace, "
                    "out of the plugin's sight (checked: nsenter finds no such file)")
    plugin = docker.plugin()
    docker.ok("network", "create", "-d", plugin, "--subnet", "10.190.0.0/24", "keyed")
    docker.ok("run", "-d", "--name", "c1", "--network", "keyed", "busybox", "sleep", "600")
    (join,) = docker.sent(plugin, "Join")
    key = Path(join["body"]["SandboxKey"])
    assert key.is_relative_to(RunDir(docker.lab.name).path), key
    assert join["sandbox"] == {"exit": 0, "links": ["lo"], "error": ""}
    pid = int(docker.ok("inspect", "-f", "{{.State.Pid}}", "c1"))
    assert os.stat(key).st_ino == os.stat(f"/proc/{pid}/ns/net").st_ino
    docker.ok("rm", "-f", "c1")
    assert not key.exists()


def test_a_plugin_gateway_takes_over_from_docker_gwbridge_and_gives_it_back(docker):
    with_gateway, without = docker.plugin(), docker.plugin("--no-gateway")
    docker.ok("network", "create", "-d", with_gateway, "--subnet", "10.192.0.0/24", "a-gw")
    docker.ok("network", "create", "-d", without, "--subnet", "10.193.0.0/24", "b-nogw")
    docker.ok("run", "-d", "--name", "c1", "--network", "b-nogw", "busybox", "sleep", "600")
    docker.ok("network", "connect", "a-gw", "c1")
    assert docker.ok("exec", "c1", "ip", "route").splitlines()[0].startswith(
        "default via 10.192.0.1 dev eth2")
    assert docker.ok("network", "inspect", "-f", "{{len .Containers}}",
                     "docker_gwbridge") == "0"
    gateways = docker.ok("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}"
                         "{{$k}}={{$v.Gateway}} {{end}}", "c1")
    assert gateways.split() == ["a-gw=10.192.0.1", "b-nogw="]
    docker.ok("network", "disconnect", "a-gw", "c1")
    gwbridge = json.loads(docker.ok("network", "inspect", "docker_gwbridge", "--format",
                                    "{{json .IPAM.Config}}"))[0]["Gateway"]
    assert docker.ok("exec", "c1", "ip", "route").splitlines()[0].startswith(
        f"default via {gwbridge} dev eth3")
