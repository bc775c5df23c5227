"""A real dockerd as a lab's Docker host (`engine: docker`), checked as a user would:
the docker CLI, `cnm lab ls/exec/env`, remote plugins and the Python API work as on an
emulated host, and `lab down`, a stop signal and `cnm clean` after a SIGKILL leave
nothing (processes, cgroups, mounts, namespaces, files). The fault-injection trials
(test_fault_injection.py) kill around a real dockerd at named steps as well."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import lab_name, run_cnm
from leftovers import (
    assert_nothing_left,
    backstop,
    lab_net_namespaces,
    machine_state,
    wait_gone,
)

from emulator.lab import Lab, realdocker
from emulator.lab.state import RunDir
from emulator.topology import topology_from_data

MIXED = """\
name: mixed
hosts:
  h1:
    engine: docker
    networks:
      n1: {subnet: 10.70.0.0/24}
    containers:
      c1: {network: n1}
      c2: {networks: [n1, bridge]}
  h2: {}
"""


def docker(name: str, host: str, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_HOST": f"unix://{RunDir(name).socket(host)}"}
    return subprocess.run(["docker", *argv], capture_output=True, text=True, env=env,
                          timeout=60)


def test_real_docker_is_installed() -> None:
    """The project's install script provides it; without it these tests mean nothing."""
    assert realdocker.available() is None


@pytest.fixture
def mixed(tmp_path: Path):
    name = lab_name()
    topology = tmp_path / "mixed.yaml"
    topology.write_text(MIXED)
    before = machine_state()
    up = run_cnm("lab", "up", str(topology), "--name", name, timeout=180)
    try:
        assert up.returncode == 0, up.stderr
        yield name, up.stdout
        namespaces = lab_net_namespaces(name, RunDir(name).read())
        down = run_cnm("lab", "down", name)
        assert down.returncode == 0, down.stderr
        assert_nothing_left(name, namespaces)
        assert machine_state() == before
    finally:
        backstop(name)


def test_a_real_host_answers_the_docker_cli_and_cnm_commands(mixed) -> None:
    name, said = mixed
    assert "h1 (real dockerd), h2;" in said
    assert docker(name, "h1", "version", "--format", "{{.Server.Version}}"
                  ).stdout.startswith("20.10.")
    assert docker(name, "h1", "run", "--rm", "alpine", "echo", "hello").stdout == "hello\n"
    row = next(line for line in run_cnm("lab", "ls").stdout.splitlines()
               if line.split()[0] == name)
    assert row.split()[1:] == ["running", row.split()[2], "h1:docker,h2", "2"]
    c2 = docker(name, "h1", "inspect", "-f", "{{.NetworkSettings.Networks.n1.IPAddress}}",
                "c2").stdout.strip()
    assert c2.startswith("10.70.0.")
    assert run_cnm("exec", "--lab", name, "h1/c1", "--", "ping", "-c1", "-W2", c2
                   ).returncode == 0
    missing = run_cnm("exec", "--lab", name, "h1/nosuch", "--", "true")
    assert missing.returncode != 0
    assert f"no running container h1/nosuch in lab {name}; containers on h1: h1/c1, h1/c2" \
        in missing.stderr
    env = run_cnm("env", "--lab", name, "h1").stdout
    assert f"export DOCKER_HOST=unix://{RunDir(name).socket('h1')}" in env


def test_a_remote_plugin_in_the_hosts_plugin_directory_loads_into_real_docker(mixed) -> None:
    name, _ = mixed
    socket = RunDir(name).path / "plugins" / "h1" / "pb.sock"
    plugin = subprocess.Popen(
        [sys.executable, "-m", "emulator.cli", "exec", "--lab", name, "h1", "--",
         sys.executable, "-m", "emulator.plugins.bridgeplugin", str(socket)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            assert plugin.poll() is None, plugin.stderr.read() if plugin.stderr else ""
            assert time.monotonic() < deadline, "the plugin never made its socket"
            time.sleep(0.05)
        created = docker(name, "h1", "network", "create", "-d", "pb", "pnet")
        assert created.returncode == 0, created.stderr
        listed = docker(name, "h1", "network", "ls", "--filter", "name=pnet", "--format",
                        "{{.Name}} {{.Driver}} {{.Scope}}")
        assert listed.stdout == "pnet pb local\n"
        bridge = f"pb-{created.stdout.strip()[:8]}"
        links = run_cnm("exec", "--lab", name, "h1", "--", "ip", "-o", "link", "show").stdout
        assert bridge in links, "the plugin's bridge is not in the host's namespace"
        assert docker(name, "h1", "network", "rm", "pnet").returncode == 0
    finally:
        plugin.terminate()
        plugin.wait(10)


TWO = {"name": "pyapi", "hosts": {"h1": {}}}


@pytest.mark.parametrize("engine", ["emulated", "docker"])
def test_the_python_api_is_the_same_on_both_engines(engine: str) -> None:
    name = lab_name()
    with Lab(topology_from_data(TWO), name, engine=engine) as lab:
        host = lab.host("h1")
        assert host.kind == engine
        net = host.networks.create("api", subnet="10.77.0.0/24", gateway="10.77.0.1")
        one = host.containers.run("a1", network="api", ip="10.77.0.10")
        two = host.containers.run("a2", networks=["api", "bridge"])
        assert str(one.ip("api")) == "10.77.0.10"
        assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", one.mac("api") or "")
        assert host.containers.get("a1").id == one.id
        assert {c.name for c in host.containers.list()} == {"a1", "a2"}
        assert {"api", "bridge", "host", "none"} <= {n.name for n in host.networks.list()}
        assert net.inspect()["IPAM"]["Config"][0]["Subnet"] == "10.77.0.0/24"
        assert one.exec(["ping", "-c1", "-W2", str(two.ip("api"))]).exit_code == 0
        assert os.readlink(f"/proc/{one.pid}/ns/net") != os.readlink(
            f"/proc/{lab.node_pid('h1')}/ns/net")
        assert host.client.containers.get("a2").attrs["State"]["Running"]
        two.remove(force=True)
        assert {c.name for c in host.containers.list()} == {"a1"}
        namespaces = lab_net_namespaces(name, RunDir(name).read())
    assert_nothing_left(name, namespaces)


def _real_lab(tmp_path: Path) -> tuple[str, int]:
    """A default lab with real dockerds and a container on h1; its name and container pid."""
    name = lab_name()
    up = run_cnm("lab", "up", "--engine", "docker", "--name", name, timeout=180)
    assert up.returncode == 0, up.stderr
    ran = docker(name, "h1", "run", "-d", "--name", "web", "alpine", "sleep", "infinity")
    assert ran.returncode == 0, ran.stderr
    pid = int(docker(name, "h1", "inspect", "-f", "{{.State.Pid}}", "web").stdout)
    return name, pid


def test_clean_after_the_lab_process_is_killed_leaves_nothing(tmp_path: Path) -> None:
    before = machine_state()
    name, container = _real_lab(tmp_path)
    try:
        state = RunDir(name).read()
        assert state is not None
        namespaces = lab_net_namespaces(name, state)
        os.kill(state.owner.pid, signal.SIGKILL)
        assert wait_gone(state.owner.pid, 30)
        cleaned = run_cnm("clean", name)
        assert cleaned.returncode == 0 and f"removed 1 dead lab(s): {name}" in cleaned.stdout
        assert wait_gone(container, 30), "the container's process survived"
        assert_nothing_left(name, namespaces)
        assert machine_state() == before
    finally:
        backstop(name)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_signal_to_the_lab_process_removes_real_hosts(tmp_path: Path, sig) -> None:
    before = machine_state()
    name, container = _real_lab(tmp_path)
    try:
        state = RunDir(name).read()
        assert state is not None
        namespaces = lab_net_namespaces(name, state)
        os.kill(state.owner.pid, sig)
        assert wait_gone(state.owner.pid, 60), "the lab process did not stop"
        assert wait_gone(container, 5), "the container's process survived"
        assert_nothing_left(name, namespaces)
        assert machine_state() == before
    finally:
        backstop(name)
