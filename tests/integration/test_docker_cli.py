"""The real docker CLI (28.2) against an emulated Docker host's Engine API.

Every command goes through the docker CLI on PATH (a static 28.2 binary; no daemon
runs here) with DOCKER_HOST pointing at h1's socket; packets are sent from inside
containers only (docker exec ... ping).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import docker as docker_py
import pytest
from cliresults import docker_env as cli_env
from conftest import CNM, run_cnm

DOCKER = shutil.which("docker") or "docker"
REPO = Path(__file__).resolve().parents[2]
HEADER = "NETWORK ID     NAME      DRIVER    SCOPE"

pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")


@pytest.fixture(scope="module")
def docker_env(lab, tmp_path_factory):
    return cli_env(lab.docker_host_url("h1"), tmp_path_factory.mktemp("docker-config"))


@pytest.fixture
def docker(h1, docker_env):
    """Run `docker ARGS...` against h1; h1 is reset after the test."""

    def run(*args: str, input: str | None = None, timeout: float = 60,
            text: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=docker_env, capture_output=True, text=text,
                              input=input, timeout=timeout)

    return run


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def uid() -> str:
    return secrets.token_hex(3)


def ip_of(docker, container: str, network: str) -> str:
    out = ok(docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}")'
                                     '.IPAddress}}', container))
    return out.strip()


def pings(docker, container: str, address: str) -> bool:
    return docker("exec", container, "ping", "-c", "1", "-W", "1", address).returncode == 0


def test_cnm_env_points_the_cli_at_the_host(lab, h1, docker_env):
    done = run_cnm("env", "h1", "--lab", lab.name)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first == f"export DOCKER_HOST={lab.docker_host_url('h1')}"
    env = {**docker_env, "DOCKER_HOST": first.partition("=")[2]}
    listed = subprocess.run([DOCKER, "network", "ls", "--format", "{{.Name}}"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.stdout.split() == ["bridge", "host", "none"], listed.stderr
    assert done.stderr == ""


def test_cnm_env_without_the_docker_cli_says_where_to_get_it(lab, tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty directory: no docker
    done = subprocess.run([*CNM, "env", "h1", "--lab", lab.name], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"export DOCKER_HOST={lab.docker_host_url('h1')}"
    assert done.stderr == "cnm: no docker CLI on PATH; scripts/install.sh installs one\n"


# -- networks ------------------------------------------------------------------


def test_network_ls_shows_the_predefined_networks_with_dockers_header(docker, h1):
    lines = ok(docker("network", "ls")).splitlines()
    assert lines[0] == HEADER
    rows = [line.split() for line in lines[1:]]
    assert [row[1:] for row in rows] == [
        ["bridge", "bridge", "local"], ["host", "host", "local"], ["none", "null", "local"]]
    ids = {n.name: n.id[:12] for n in h1.networks.list()}
    assert {row[1]: row[0] for row in rows} == ids


def test_network_ls_filters_and_format(docker):
    name = f"flt-{uid()}"
    ok(docker("network", "create", name))
    by_driver = ok(docker("network", "ls", "--filter", "driver=bridge")).splitlines()
    assert by_driver[0].split() == HEADER.split()  # the NAME column widens for long names
    assert sorted(line.split()[1] for line in by_driver[1:]) == sorted(["bridge", name])
    by_name = ok(docker("network", "ls", "--filter", f"name={name}")).splitlines()
    assert [line.split()[1] for line in by_name[1:]] == [name]
    assert ok(docker("network", "ls", "--filter", "name=bri", "-q")).split() == [
        ok(docker("network", "inspect", "-f", "{{.Id}}", "bridge")).strip()[:12]]
    formatted = ok(docker("network", "ls", "--format", "{{.Name}} {{.Driver}}")).splitlines()
    assert formatted == ["bridge bridge", f"{name} bridge", "host host", "none null"]
    ok(docker("network", "rm", name))


def test_network_ls_by_label_and_a_bad_filter(docker):
    tagged, flagged = f"lbl-{uid()}", f"flg-{uid()}"
    ok(docker("network", "create", "--label", "x=y", tagged))
    ok(docker("network", "create", "--internal", "--label", "z", flagged))
    shape = "{{.Name}} {{.Labels}} {{.Internal}}"
    assert ok(docker("network", "ls", "-f", "label=x=y", "--format", shape)) == \
        f"{tagged} x=y false\n"
    assert ok(docker("network", "ls", "-f", "label=z", "--format", shape)) == \
        f"{flagged} z= true\n"
    bogus = docker("network", "ls", "-f", "bogus=1")
    assert (bogus.returncode, bogus.stdout, bogus.stderr) == (
        1, "", "Error response from daemon: invalid filter 'bogus'\n")


def test_network_create_with_every_option_then_inspect(docker):
    name = f"opt-{uid()}"
    created = ok(docker(
        "network", "create", "--subnet", "10.57.0.0/24", "--gateway", "10.57.0.1",
        "--ip-range", "10.57.0.128/25", "--aux-address", "router=10.57.0.2", "--internal",
        "--attachable", "-o", "com.docker.network.bridge.enable_icc=false",
        "--label", "a=b", name)).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", created)
    (network,) = json.loads(ok(docker("network", "inspect", name)))
    assert network["Name"] == name and network["Id"] == created
    assert network["Driver"] == "bridge" and network["Scope"] == "local"
    assert network["IPAM"]["Driver"] == "default"
    assert network["IPAM"]["Config"] == [{
        "Subnet": "10.57.0.0/24", "Gateway": "10.57.0.1", "IPRange": "10.57.0.128/25",
        "AuxiliaryAddresses": {"router": "10.57.0.2"}}]
    assert network["Internal"] is True and network["Attachable"] is True
    assert network["EnableIPv6"] is False and network["Ingress"] is False
    assert network["Options"] == {"com.docker.network.bridge.enable_icc": "false"}
    assert network["Labels"] == {"a": "b"}
    assert network["Containers"] == {}
    assert ok(docker("network", "inspect", "-f", "{{.Internal}} {{.Attachable}}",
                     created[:12])).strip() == "true true"
    assert ok(docker("network", "rm", name)) == f"{name}\n"


def test_network_rm_prints_the_name_and_refuses_predefined(docker):
    first, second = f"rm1-{uid()}", f"rm2-{uid()}"
    ok(docker("network", "create", first))
    ok(docker("network", "create", second))
    assert ok(docker("network", "rm", first, second)) == f"{first}\n{second}\n"
    refused = docker("network", "rm", "bridge")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "Error response from daemon: bridge is a pre-defined network and cannot be removed")
    missing = docker("network", "rm", f"missing-{uid()}")
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert "bridge" in ok(docker("network", "ls", "--format", "{{.Name}}")).split()


def test_network_errors_have_dockers_messages(docker):
    name = f"err-{uid()}"
    ok(docker("network", "create", name))
    duplicate = docker("network", "create", name)
    assert duplicate.returncode == 1
    assert (f"Error response from daemon: network with name {name} already exists"
            in duplicate.stderr)
    predefined = docker("network", "create", "host")
    assert predefined.returncode == 1
    assert "operation is not permitted on predefined host network" in predefined.stderr
    absent = docker("network", "inspect", f"absent-{name}")
    assert absent.returncode == 1
    assert f"network absent-{name} not found" in absent.stderr
    ok(docker("network", "rm", name))


def test_network_prune(docker):
    names = [f"pr{i}-{uid()}" for i in range(2)]
    for name in names:
        ok(docker("network", "create", name))
    kept = f"kept-{uid()}"
    ok(docker("network", "create", kept))
    ok(docker("run", "-d", "--name", f"keeper-{uid()}", "--network", kept, "alpine",
              "sleep", "infinity"))
    out = ok(docker("network", "prune", "-f"))
    lines = out.splitlines()
    assert lines[0] == "Deleted Networks:"
    assert sorted(line for line in lines[1:] if line) == sorted(names)
    left = ok(docker("network", "ls", "--format", "{{.Name}}")).split()
    assert left == sorted(["bridge", "host", "none", kept])
    assert ok(docker("network", "prune", "-f")) == ""


def test_network_commands_go_on_past_a_missing_name(docker):
    first, second = f"on1-{uid()}", f"on2-{uid()}"
    ok(docker("network", "create", first))
    ok(docker("network", "create", second))
    shown = docker("network", "inspect", "-f", "{{.Name}}", first, "nope", "bridge")
    assert (shown.returncode, shown.stdout) == (1, f"{first}\nbridge\n")
    assert shown.stderr == "Error response from daemon: network nope not found\n"
    removed = docker("network", "rm", first, "nope", second)
    assert (removed.returncode, removed.stdout) == (1, f"{first}\n{second}\n")
    assert "Error response from daemon: network nope not found" in removed.stderr
    assert ok(docker("network", "ls", "--format", "{{.Name}}")).split() == [
        "bridge", "host", "none"]


def test_network_connect_of_a_missing_container_or_network(docker):
    name = f"cn-{uid()}"
    ok(docker("network", "create", name))
    ok(docker("run", "-d", "--name", "box", "alpine", "sleep", "infinity"))
    no_box = docker("network", "connect", name, "nobox")
    assert (no_box.returncode, no_box.stderr) == (
        1, "Error response from daemon: No such container: nobox\n")
    no_net = docker("network", "connect", "nope", "box")
    assert (no_net.returncode, no_net.stderr) == (
        1, "Error response from daemon: network nope not found\n")
    assert ok(docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} "
                     "{{end}}", "box")).split() == ["bridge"]


# -- the walkthrough -----------------------------------------------------------


def test_walkthrough_host_network(docker, h1):
    out = ok(docker("container", "run", "-d", "--network", "host", "--name",
                    "container-host-net", "alpine", "tail", "-f", "/dev/null"))
    assert re.fullmatch(r"[0-9a-f]{64}\n", out)
    shown = ok(docker("container", "exec", "container-host-net", "ifconfig"))
    interfaces = re.findall(r"^(\S+?):? ", shown, flags=re.M)
    assert "docker0" in interfaces and "eth0" in interfaces
    assert "inet addr:172.17.0.1" in shown.split("docker0", 1)[1].split("\n\n", 1)[0]
    assert ok(docker("inspect", "-f", "{{.HostConfig.NetworkMode}}",
                     "container-host-net")) == "host\n"
    ok(docker("rm", "-f", "container-host-net"))


def test_walkthrough_none_network(docker):
    ok(docker("container", "run", "-d", "--network", "none", "--name", "c-none", "alpine",
              "sleep", "infinity"))
    links = ok(docker("exec", "c-none", "ls", "/sys/class/net")).splitlines()
    assert [line.split()[0] for line in links] == ["lo"]
    assert ok(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", "c-none")).startswith(
        '{"none":')
    ok(docker("rm", "-f", "c-none"))


def test_user_network_static_ip_connect_and_disconnect(docker):
    ok(docker("network", "create", "--subnet", "10.55.0.0/24", "front"))
    ok(docker("run", "-d", "--name", "web", "--network", "front", "alpine", "sleep",
              "infinity"))
    ok(docker("run", "-d", "--name", "db", "--network", "front", "--ip", "10.55.0.9", "alpine",
              "sleep", "infinity"))
    assert ip_of(docker, "db", "front") == "10.55.0.9"
    web_ip = ip_of(docker, "web", "front")
    assert web_ip.startswith("10.55.0.") and web_ip != "10.55.0.9"

    ok(docker("run", "-d", "--name", "cache", "alpine", "sleep", "infinity"))
    assert ok(docker("network", "connect", "--ip", "10.55.0.50", "--alias", "kv", "front",
                     "cache")) == ""
    assert ip_of(docker, "cache", "front") == "10.55.0.50"
    aliases = json.loads(ok(docker("inspect", "-f",
                                   '{{json (index .NetworkSettings.Networks "front").Aliases}}',
                                   "cache")))
    assert aliases == ["kv"]
    (front,) = json.loads(ok(docker("network", "inspect", "front")))
    assert sorted(c["Name"] for c in front["Containers"].values()) == ["cache", "db", "web"]
    assert {c["Name"]: c["IPv4Address"] for c in front["Containers"].values()}["db"] == \
        "10.55.0.9/24"
    assert sorted(line.split()[0].split("@")[0] for line in ok(docker(
        "exec", "cache", "ls", "/sys/class/net")).splitlines()) == ["eth0", "eth1", "lo"]
    assert pings(docker, "cache", "10.55.0.9")

    assert ok(docker("network", "disconnect", "front", "cache")) == ""
    assert sorted(line.split()[0].split("@")[0] for line in ok(docker(
        "exec", "cache", "ls", "/sys/class/net")).splitlines()) == ["eth0", "lo"]
    assert ok(docker("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} "
                     "{{end}}", "cache")).split() == ["bridge"]
    again = docker("network", "disconnect", "front", "cache")
    assert again.returncode == 1 and "is not connected to network front" in again.stderr

    in_use = docker("network", "rm", "front")
    assert in_use.returncode == 1 and "has active endpoints" in in_use.stderr
    ok(docker("rm", "-f", "web", "db", "cache"))
    ok(docker("network", "rm", "front"))


def test_static_ip_needs_a_user_subnet(docker):
    name = f"nosub-{uid()}"
    ok(docker("network", "create", name))
    refused = docker("run", "-d", "--name", f"x-{uid()}", "--network", name, "--ip",
                     "172.30.0.9", "alpine", "sleep", "infinity")
    assert refused.returncode == 125
    assert ("user specified IP address is supported only when connecting to networks with "
            "user configured subnets") in refused.stderr


# -- containers and exec -------------------------------------------------------


def test_exec_passes_the_exit_code_through(docker):
    name = f"ex-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sleep", "infinity"))
    assert docker("exec", name, "true").returncode == 0
    assert docker("exec", name, "sh", "-c", "exit 3").returncode == 3
    both = docker("exec", name, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (both.returncode, both.stdout, both.stderr) == (5, "out\n", "err\n")
    missing = docker("exec", name, "no-such-command")
    assert missing.returncode == 127
    assert "executable file not found in $PATH" in missing.stdout + missing.stderr


def test_exec_with_a_tty(docker):
    name = f"tty-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sleep", "infinity"))
    result = docker("exec", "-t", name, "sh", "-c", "test -t 1 && echo on-a-tty", text=False)
    assert result.returncode == 0
    assert result.stdout == b"on-a-tty\r\n"  # the pty turns \n into \r\n
    plain = docker("exec", name, "sh", "-c", "test -t 1 || echo no-tty", text=False)
    assert (plain.returncode, plain.stdout) == (0, b"no-tty\n")


def test_exec_with_stdin(docker):
    name = f"in-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sleep", "infinity"))
    result = docker("exec", "-i", name, "cat", input="piped through\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "piped through\n", "")


def test_run_in_the_foreground(docker):
    assert ok(docker("run", "--rm", "alpine", "echo", "hello")) == "hello\n"
    assert ok(docker("container", "ls", "-a", "-q")) == ""
    name = f"fg-{uid()}"
    failed = docker("run", "--name", name, "alpine", "sh", "-c", "echo bye; exit 4")
    assert (failed.returncode, failed.stdout) == (4, "bye\n")
    assert ok(docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)) == \
        "exited 4\n"
    ok(docker("rm", name))
    assert ok(docker("container", "ls", "-a", "-q")) == ""


def test_run_sets_the_hostname_and_the_static_address_inside(docker):
    assert ok(docker("run", "--rm", "-h", "myhost", "alpine", "hostname")) == "myhost\n"
    ok(docker("network", "create", "--subnet", "10.4.0.0/24", "fixed"))
    shown = ok(docker("run", "--rm", "--network", "fixed", "--ip", "10.4.0.44", "alpine",
                      "ip", "-4", "-o", "addr", "show", "eth0"))
    assert shown.split()[3] == "10.4.0.44/24"


def test_run_detached_of_a_missing_binary_fails_with_127(docker):
    name = f"nobin-{uid()}"
    failed = docker("run", "-d", "--name", name, "alpine", "no-such-binary")
    assert failed.returncode == 127
    assert re.fullmatch(r"[0-9a-f]{64}\n", failed.stdout)  # created, then the start failed
    assert ('Error response from daemon: failed to create task for container: OCI runtime '
            'create failed: unable to start container process: exec: "no-such-binary": '
            "executable file not found in $PATH: unknown") in failed.stderr
    assert ok(docker("inspect", "-f", "{{.State.Running}}", name)) == "false\n"


def test_exec_in_a_created_or_missing_container(docker):
    name = f"idle-{uid()}"
    created = ok(docker("create", "--name", name, "alpine", "true")).strip()
    idle = docker("exec", name, "true")
    assert (idle.returncode, idle.stderr) == (
        1, f"Error response from daemon: container {created} is not running\n")
    missing = docker("exec", "nope", "true")
    assert (missing.returncode, missing.stderr) == (
        1, "Error response from daemon: No such container: nope\n")


def test_logs_of_detached_and_attached_runs(docker):
    detached, attached = f"det-{uid()}", f"att-{uid()}"
    ok(docker("run", "-d", "--name", detached, "alpine", "sh", "-c", "echo from-detached"))
    assert ok(docker("wait", detached)) == "0\n"
    assert ok(docker("logs", detached)) == "from-detached\n"
    assert ok(docker("run", "--name", attached, "alpine", "echo", "from-attached")) == \
        "from-attached\n"
    assert ok(docker("logs", attached)) == "from-attached\n"  # dockerd logs attached runs too
    ok(docker("rm", detached, attached))


def test_container_ls_inspect_stop_rm(docker):
    first, second = f"ls1-{uid()}", f"ls2-{uid()}"
    ok(docker("run", "-d", "--name", first, "alpine", "sleep", "infinity"))
    ok(docker("run", "-d", "--name", second, "alpine", "sleep", "infinity"))
    lines = ok(docker("container", "ls")).splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]
    assert [line.split()[-1] for line in lines[1:]] == [second, first]
    assert all('"sleep infinity"' in line and " Up " in line for line in lines[1:])

    (info,) = json.loads(ok(docker("container", "inspect", first)))
    assert info["Name"] == f"/{first}" and info["State"]["Running"] is True
    assert info["Config"]["Cmd"] == ["sleep", "infinity"]
    assert info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"].startswith("172.17.")

    assert ok(docker("stop", first)) == f"{first}\n"
    assert [line.split()[-1] for line in ok(docker("container", "ls")).splitlines()[1:]] == [
        second]
    everything = ok(docker("container", "ls", "-a")).splitlines()[1:]
    assert [line.split()[-1] for line in everything] == [second, first]
    assert "Exited (" in everything[1]
    assert ok(docker("inspect", "-f", "{{.State.Status}}", first)) == "exited\n"
    assert ok(docker("start", first)) == f"{first}\n"

    refused = docker("rm", second)
    assert refused.returncode == 1
    assert "container is running: stop the container before removing or force remove" in \
        refused.stderr
    assert ok(docker("rm", "-f", first, second)) == f"{first}\n{second}\n"
    assert ok(docker("container", "ls", "-a", "-q")) == ""
    gone = docker("container", "inspect", first)
    assert gone.returncode == 1 and f"No such container: {first}" in gone.stderr


def test_stop_and_rm_go_on_past_a_missing_or_running_container(docker):
    first, second = f"sr1-{uid()}", f"sr2-{uid()}"
    ok(docker("run", "-d", "--name", first, "alpine", "sleep", "infinity"))
    ok(docker("run", "-d", "--name", second, "alpine", "sleep", "infinity"))
    stopped = docker("stop", first, "nope")
    assert (stopped.returncode, stopped.stdout) == (1, f"{first}\n")
    assert stopped.stderr == "Error response from daemon: No such container: nope\n"
    removed = docker("rm", first, second, "nope")
    assert (removed.returncode, removed.stdout) == (1, f"{first}\n")
    assert removed.stderr.splitlines() == [
        f'Error response from daemon: cannot remove container "/{second}": container is '
        "running: stop the container before removing or force remove",
        "Error response from daemon: No such container: nope"]
    forced = docker("rm", "-f", second, "nope")  # -f: a missing container is no failure
    assert (forced.returncode, forced.stdout) == (0, f"{second}\n")
    assert ok(docker("container", "ls", "-a", "-q")) == ""


def test_inspect_of_a_missing_object(docker):
    """`docker inspect` tries a container, then an image: both must answer 404."""
    missing = f"missing-{uid()}"
    gone = docker("inspect", missing)
    assert gone.returncode == 1
    assert gone.stderr == f"Error: No such object: {missing}\n"


def test_container_ls_filters(docker):
    keep, other = f"keep-{uid()}", f"other-{uid()}"
    ok(docker("run", "-d", "--name", keep, "alpine", "sleep", "infinity"))
    ok(docker("run", "-d", "--name", other, "alpine", "sleep", "infinity"))
    assert ok(docker("ps", "--filter", f"name={keep}", "--format", "{{.Names}}")).split() == [
        keep]
    assert ok(docker("ps", "--filter", "name=no-such-name", "-q")) == ""
    idle = f"idle-{uid()}"
    ok(docker("create", "--name", idle, "alpine", "true"))
    assert ok(docker("ps", "-a", "-f", "status=created", "--format", "{{.Names}} {{.State}}")
              ) == f"{idle} created\n"
    assert ok(docker("ps", "-f", f"name={keep}", "--format", "{{.Networks}}")) == "bridge\n"


def test_version_and_info(docker):
    version = docker("version")
    assert version.returncode == 0, version.stderr
    assert "Server:" in version.stdout and "API version:       1.45" in version.stdout
    assert ok(docker("version", "-f", "{{.Server.APIVersion}}")) == "1.45\n"
    info = docker("info")
    assert info.returncode == 0, info.stderr
    assert ok(docker("info", "-f", "{{.Name}}")) == "h1\n"


# -- packets -------------------------------------------------------------------


def test_containers_on_one_network_ping_each_other_not_across_networks(docker):
    tag = uid()
    blue, red = f"blue-{tag}", f"red-{tag}"
    ok(docker("network", "create", blue))
    ok(docker("network", "create", red))
    for name, network in ((f"b1-{tag}", blue), (f"b2-{tag}", blue), (f"r1-{tag}", red)):
        ok(docker("run", "-d", "--name", name, "--network", network, "alpine", "sleep",
                  "infinity"))
    b1, b2, r1 = (ip_of(docker, f"{n}-{tag}", net)
                  for n, net in (("b1", blue), ("b2", blue), ("r1", red)))
    assert len({b1, b2, r1}) == 3
    assert pings(docker, f"b1-{tag}", b2)
    assert pings(docker, f"b2-{tag}", b1)
    assert not pings(docker, f"b1-{tag}", r1)
    assert not pings(docker, f"r1-{tag}", b2)

    ok(docker("network", "connect", red, f"b1-{tag}"))
    assert pings(docker, f"b1-{tag}", r1)
    ok(docker("network", "disconnect", red, f"b1-{tag}"))
    assert not pings(docker, f"b1-{tag}", r1)
    ok(docker("rm", "-f", f"b1-{tag}", f"b2-{tag}", f"r1-{tag}"))
    ok(docker("network", "rm", blue, red))


def test_attached_run_keeps_stderr_apart(lab):
    """dockerd streams a container's stderr on the stderr stream of an attached run."""
    env = {**os.environ, "DOCKER_HOST": lab.docker_host_url("h1")}
    done = subprocess.run(["docker", "run", "--rm", "alpine", "sh", "-c",
                           "echo out; echo err >&2; exit 3"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


# -- hostile requests (issue 12) ---------------------------------------------------


def test_a_network_name_with_a_space_can_be_inspected_and_removed(docker):
    """The CLI URL-encodes the name (`/networks/my%20net`); dockerd decodes it."""
    name = f"my net {uid()}"
    network_id = ok(docker("network", "create", name)).strip()
    assert ok(docker("network", "inspect", "-f", "{{.Id}}", name)).strip() == network_id
    assert ok(docker("network", "rm", name)).strip() == name


def test_a_wrong_typed_request_breaks_no_listing(lab, docker):
    """Finding 2: `{"Name": 5}` was accepted, after which `docker network ls` failed for
    every client (json: cannot unmarshal number into Go struct field Inspect.Name of type
    string); `Cmd: [5]` broke `docker ps -a`. Both are now refused as dockerd refuses them."""
    api = docker_py.APIClient(base_url=lab.docker_host_url("h1"), version="1.45")
    try:
        for path, body, message in [
            ("/networks/create", {"Name": 5}, "invalid JSON: json: cannot unmarshal number "
             "into Go struct field NetworkCreateRequest.Name of type string"),
            ("/containers/create", {"Image": "alpine", "Cmd": [5]}, "invalid JSON: json: "
             "cannot unmarshal array into Go struct field ContainerConfigWrapper.Cmd of type "
             "string"),
        ]:
            answer = api._post(api._url(path), data=json.dumps(body),
                               headers={"Content-Type": "application/json"})
            assert (answer.status_code, answer.json()) == (400, {"message": message})
    finally:
        api.close()
    assert ok(docker("network", "ls", "--format", "{{.Name}}")).split() == [
        "bridge", "host", "none"]
    assert ok(docker("ps", "-a", "--format", "{{.Names}}")) == ""


def test_a_client_version_dockerd_does_not_serve_is_refused(docker_env, h1):
    for version, message in [
        ("9.99", "client version 9.99 is too new. Maximum supported API version is 1.45"),
        ("1.23", "client version 1.23 is too old. Minimum supported API version is 1.24, "
                 "please upgrade your client to a newer version"),
    ]:
        refused = subprocess.run([DOCKER, "network", "ls"], capture_output=True, text=True,
                                 env={**docker_env, "DOCKER_API_VERSION": version}, timeout=60)
        assert refused.returncode == 1
        assert refused.stderr == f"Error response from daemon: {message}\n"
    oldest = subprocess.run([DOCKER, "network", "ls", "--format", "{{.Name}}"],
                            capture_output=True, text=True, timeout=60,
                            env={**docker_env, "DOCKER_API_VERSION": "1.24"})
    assert (oldest.returncode, oldest.stdout.split()) == (0, ["bridge", "host", "none"])
