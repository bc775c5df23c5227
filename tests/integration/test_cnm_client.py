"""`cnm network ...` and `cnm container ...` side by side with the real docker CLI.

One lab, started by `cnm lab up` and removed by `cnm lab down`; every test does
the same operation with `docker` (DOCKER_HOST at the lab's h1) and with `cnm`
(`--lab NAME --host h1`) and compares what they print and how they exit. What
one of them creates is removed before the other runs, so both see the same host.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import CNM, lab_name, run_cnm

from emulator.lab.cleanup import clean, marked_processes
from emulator.lab.state import RUN_ROOT, RunDir

DOCKER = shutil.which("docker")
pytestmark = pytest.mark.skipif(DOCKER is None, reason="needs the docker CLI to compare with")

REPO = Path(__file__).resolve().parents[2]
HEX64 = re.compile(r"^[0-9a-f]{64}\n$")


# -- running both --------------------------------------------------------------------


class Lab:
    def __init__(self, name: str, config: str) -> None:
        self.name = name
        self.config = config  # an empty DOCKER_CONFIG: no psFormat etc. from the machine

    def socket_url(self, host: str = "h1") -> str:
        return f"unix://{RunDir(self.name).socket(host)}"

    def docker(self, *args: str, host: str = "h1", stdin: str = "",
               timeout: float = 60) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": self.socket_url(host), "DOCKER_CONFIG": self.config}
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env,
                              input=stdin, timeout=timeout)

    def cnm(self, *args: str, host: str = "h1", stdin: str = "", env_host: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """`cnm GROUP LEAF --lab NAME --host H ARGS...` (or with DOCKER_HOST=env_host)."""
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
        argv = list(args)
        if env_host is not None:
            env["DOCKER_HOST"] = env_host
        else:
            argv[2:2] = ["--lab", self.name, "--host", host]
        return subprocess.run([*CNM, *argv], capture_output=True, text=True, env=env,
                              input=stdin, timeout=timeout, cwd=REPO)

    def both(self, *args: str, stdin: str = "") -> tuple[subprocess.CompletedProcess,
                                                         subprocess.CompletedProcess]:
        """`docker ARGS` then `cnm ARGS`; asserts the same stdout and exit status."""
        d = self.docker(*args, stdin=stdin)
        c = self.cnm(*args, stdin=stdin)
        assert (c.stdout, c.returncode) == (d.stdout, d.returncode), (
            f"{' '.join(args)}\ndocker stderr: {d.stderr}\ncnm stderr: {c.stderr}")
        return d, c

    def api(self, *args: str) -> str:
        """Set up or tear down with docker; returns its stdout."""
        done = self.docker(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout


def daemon_errors(stderr: str) -> list[str]:
    return [line[line.index("Error response from daemon:"):] for line in stderr.splitlines()
            if "Error response from daemon:" in line]


_DURATION = (r"(Less than a second|About an? (minute|hour)|\d+ (seconds?|minutes|hours|days|"
             r"weeks|months|years))")


def timeless(table: str) -> list[list[str]]:
    """A table's cells with durations blanked (the two runs are a moment apart)."""
    text = re.sub(_DURATION, "T", table)
    return [re.split(r" {2,}", line.strip()) for line in text.splitlines()]


# -- fixtures -------------------------------------------------------------------------------


def _nothing_left(name: str) -> None:
    assert not RunDir(name).exists(), f"run directory of {name} left behind"
    left = [m for m, _ in marked_processes(f"CNM_LAB={name}.".encode())]
    assert not left, f"processes of {name} left behind: {left}"


@pytest.fixture(scope="module")
def lab():
    name = lab_name()
    with tempfile.TemporaryDirectory(prefix="cnm-docker-config-") as config:
        try:
            up = run_cnm("lab", "up", "--name", name, timeout=60)
            assert up.returncode == 0, up.stderr
            yield Lab(name, config)
        finally:
            if RunDir(name).exists():
                run_cnm("lab", "down", name)
            clean(only=name)
            (RUN_ROOT / f".{name}.log").unlink(missing_ok=True)
    _nothing_left(name)


@pytest.fixture
def h1(lab):
    """The lab, its h1 emptied of containers and user networks after each test."""
    yield lab
    ids = lab.api("ps", "-aq").split()
    if ids:
        lab.api("rm", "-f", *ids)
    for name in lab.api("network", "ls", "--format", "{{.Name}}").split():
        if name not in ("bridge", "host", "none"):
            lab.api("network", "rm", name)


# -- network ---------------------------------------------------------------------------------


def test_network_ls_in_every_shape(h1):
    # One label each: docker prints a network's labels in Go's random map order.
    h1.api("network", "create", "--label", "x=y", "net10")
    h1.api("network", "create", "--internal", "--label", "z", "net2")
    for args in ([], ["--no-trunc"], ["-q"], ["--format", "{{.Name}} {{.Internal}} {{.Labels}}"],
                 ["--format", 'table {{.Name}}\\t{{.Label "x"}}\\t{{.ID}}'],
                 ["--format", "{{json .}}"], ["--format", "json"],
                 ["-q", "--format", "{{.Name}}"], ["-f", "driver=null"],
                 ["-f", "name=net", "-f", "driver=bridge"], ["-f", "label=x=y"]):
        h1.both("network", "ls", *args)
    h1.both("network", "list")


def test_network_ls_errors(h1):
    d, c = h1.both("network", "ls", "--format", "{{.Foo}}")
    assert d.returncode == 1 and c.stderr == d.stderr
    d, c = h1.both("network", "ls", "-f", "bogus=1")
    assert d.returncode == 1 and c.stderr == d.stderr


def _created(lab: Lab, tool: str, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    """`network create` with one tool, then the network's inspect JSON without its
    identity, and the network removed again."""
    done = (lab.docker if tool == "docker" else lab.cnm)("network", "create", *args)
    assert done.returncode == 0, done.stderr
    inspect = lab.api("network", "inspect", args[-1])
    lab.api("network", "rm", args[-1])
    ident = done.stdout.strip()
    assert ident in inspect
    inspect = inspect.replace(ident, "ID")
    return done, re.sub(r'"Created": "[^"]+"', '"Created": "T"', inspect)


@pytest.mark.parametrize("flags", [
    [],
    ["--subnet", "10.5.0.0/24", "--gateway", "10.5.0.1", "--ip-range", "10.5.0.128/25",
     "--aux-address", "a=10.5.0.5", "--internal", "--attachable", "-o",
     "com.docker.network.driver.mtu=1400", "--label", "x=y", "--label", "z"],
    ["-d", "bridge", "--subnet", "10.6.0.0/16", "-o", "com.docker.network.bridge.name=br-x"],
])
def test_network_create_makes_the_same_network(h1, flags):
    d, d_json = _created(h1, "docker", *flags, "made")
    c, c_json = _created(h1, "cnm", *flags, "made")
    assert HEX64.match(d.stdout) and HEX64.match(c.stdout)
    assert c_json == d_json
    assert c.stderr == d.stderr == ""


@pytest.mark.parametrize("args", [
    ["--gateway", "10.0.0.1", "x"],
    ["--subnet", "10.9.0.0/24", "--gateway", "10.8.0.1", "x"],
    ["--subnet", "10.9.0.0/24", "--aux-address", "a=10.8.0.1", "x"],
    ["--subnet", "10.9.0.0/24", "--ip-range", "10.8.0.0/25", "x"],
    ["--subnet", "bogus", "x"],
    ["-d", "nodriver", "x"],
])
def test_network_create_errors(h1, args):
    d, c = h1.both("network", "create", *args)
    assert d.returncode == 1
    assert c.stderr == d.stderr


def test_network_create_duplicate_and_usage_errors(h1):
    h1.api("network", "create", "dup")
    d, c = h1.both("network", "create", "dup")
    assert d.returncode == 1 and c.stderr == d.stderr
    h1.both("network", "create")  # missing NAME: 1
    h1.both("network", "create", "--no-such-flag", "x")  # unknown flag: 125
    h1.both("network", "ls", "extra")


def test_network_inspect(h1):
    h1.api("network", "create", "--subnet", "10.7.0.0/24", "--label", "a=b", "insp")
    h1.api("run", "-d", "--name", "member", "--network", "insp", "alpine", "sleep", "60")
    h1.both("network", "inspect", "insp")
    h1.both("network", "inspect", "bridge", "insp", "host")
    h1.both("network", "inspect", "--format", "json", "insp", "none")
    h1.both("network", "inspect", "-f", "{{.Name}} {{.Driver}} {{json .Labels}} "
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}", "insp")
    for args in (["nope"], ["insp", "nope", "bridge"]):
        d, c = h1.both("network", "inspect", *args)
        assert d.returncode == 1 and c.stderr == d.stderr
    d, c = h1.both("network", "inspect", "-f", "{{.Nope}}", "insp")
    assert c.stderr == d.stderr


def test_network_rm_prints_each_name_and_fails_at_the_end(h1):
    results = []
    for tool in (h1.docker, h1.cnm):
        h1.api("network", "create", "a")
        h1.api("network", "create", "b")
        results.append(tool("network", "rm", "a", "nope", "b", "nope2"))
        assert h1.api("network", "ls", "-q", "-f", "name=^a$") == ""
    d, c = results
    assert (c.stdout, c.returncode, c.stderr) == (d.stdout, d.returncode, d.stderr)
    assert d.stdout == "a\nb\n" and d.returncode == 1
    h1.both("network", "rm", "-f", "nope")
    h1.both("network", "rm", "bridge")


def test_network_prune(h1):
    results = []
    h1.api("network", "create", "kept")
    h1.api("run", "-d", "--name", "keeper", "--network", "kept", "alpine", "sleep", "60")
    for tool in (h1.docker, h1.cnm):
        h1.api("network", "create", "p2")
        h1.api("network", "create", "p1")
        results.append(tool("network", "prune", "-f"))
    d, c = results
    assert (c.stdout, c.returncode) == (d.stdout, d.returncode)
    assert d.stdout in ("Deleted Networks:\np1\np2\n\n", "Deleted Networks:\np2\np1\n\n")
    h1.both("network", "prune", "-f")  # nothing to prune: prints nothing
    h1.both("network", "prune", stdin="n\n")  # declined at the prompt


def test_network_connect_and_disconnect(h1):
    h1.api("network", "create", "plain")
    h1.api("network", "create", "--subnet", "10.8.0.0/24", "sub")
    h1.api("run", "-d", "--name", "box", "alpine", "sleep", "60")
    for args in (["--ip", "10.0.0.5", "plain", "box"], ["nope", "box"], ["plain", "nobox"]):
        d, c = h1.both("network", "connect", *args)
        assert d.returncode == 1 and c.stderr == d.stderr
    seen = []
    for tool in (h1.docker, h1.cnm):
        done = tool("network", "connect", "--ip", "10.8.0.9", "--alias", "x", "--alias", "y",
                    "sub", "box")
        assert (done.returncode, done.stdout) == (0, "")
        seen.append(h1.api("inspect", "-f", "{{json .NetworkSettings.Networks.sub.Aliases}} "
                           "{{.NetworkSettings.Networks.sub.IPAddress}}", "box"))
        again = tool("network", "connect", "sub", "box")
        assert again.returncode == 1
        done = tool("network", "disconnect", "sub", "box")
        assert (done.returncode, done.stdout) == (0, "")
    assert seen[0] == seen[1]
    assert "10.8.0.9" in seen[0]
    d, c = h1.both("network", "disconnect", "sub", "box")
    assert d.returncode == 1 and c.stderr == d.stderr
    h1.both("network", "disconnect", "-f", "sub", "nobox")


# -- container --------------------------------------------------------------------------------


def test_container_run_detached_then_ls(h1):
    d = h1.docker("run", "-d", "--name", "d1", "alpine", "sleep", "60")
    c = h1.cnm("container", "run", "-d", "--name", "c1", "alpine", "sleep", "60")
    assert HEX64.match(d.stdout) and HEX64.match(c.stdout)
    assert (c.returncode, c.stderr) == (d.returncode, d.stderr) == (0, "")
    h1.api("create", "--name", "never", "alpine", "sh", "-c", "echo 'a long command line'")
    for args in (["-a", "-q"], ["-q"], ["-a", "--no-trunc", "-q"],
                 ["--format", "{{.Names}} {{.Image}} {{.Command}} {{.State}} {{.Networks}} "
                  "{{.Ports}}"],
                 ["-a", "--format", 'table {{.Names}}\\t{{.Command}}\\t{{.Label "x"}}'],
                 ["-a", "-f", "status=created", "--format", "{{.ID}}"],
                 ["-a", "-q", "--format", "{{.Names}}"]):
        h1.both("container", "ls", *args)
    for args in ([], ["-a"], ["-a", "--no-trunc"]):
        d = h1.docker("ps", *args)
        c = h1.cnm("container", "ls", *args)
        assert c.returncode == d.returncode == 0
        assert timeless(c.stdout) == timeless(d.stdout)
    d, c = h1.both("container", "ls", "--format", "{{.Foo}}")
    assert d.returncode == 1 and c.stderr == d.stderr


def test_container_run_attached_streams_and_exits_with_the_code(h1):
    script = "echo out; echo err >&2; echo more; exit 3"
    d, c = h1.both("container", "run", "--rm", "alpine", "sh", "-c", script)
    assert d.returncode == 3
    assert "out\n" in d.stdout and "more\n" in d.stdout
    assert c.stderr == d.stderr
    assert h1.api("ps", "-aq") == "", "--rm containers are removed"
    d, c = h1.both("container", "run", "--rm", "-h", "myhost", "alpine", "hostname")
    assert d.stdout == "myhost\n"
    h1.api("network", "create", "--subnet", "10.4.0.0/24", "fixed")
    d, c = h1.both("container", "run", "--rm", "--network", "fixed", "--ip", "10.4.0.44",
                   "alpine", "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'")
    assert d.stdout == "10.4.0.44/24\n"


def test_container_run_errors(h1):
    h1.api("run", "-d", "--name", "taken", "alpine", "sleep", "60")
    for args in (["--name", "taken", "alpine", "true"], ["--network", "nope", "alpine", "true"],
                 ["-d", "alpine", "no-such-binary"]):
        d = h1.docker("run", *args)
        c = h1.cnm("container", "run", *args)
        assert c.returncode == d.returncode, args
        assert daemon_errors(c.stderr) == daemon_errors(d.stderr)
        assert bool(HEX64.match(c.stdout)) == bool(HEX64.match(d.stdout))
    assert d.returncode == 127


def test_container_exec(h1):
    h1.api("run", "-d", "--name", "ex", "alpine", "sleep", "60")
    h1.api("create", "--name", "idle", "alpine", "true")
    for args in (["ex", "sh", "-c", "echo a; echo b >&2; exit 4"], ["ex", "no-such-binary"],
                 ["-t", "ex", "sh", "-c", "echo tty; exit 2"], ["-e", "V=1", "ex", "sh", "-c",
                                                                "echo $V"],
                 ["-d", "ex", "true"], ["nope", "true"], ["idle", "true"], ["ex"]):
        d, c = h1.both("container", "exec", *args)
        if d.returncode == 1:
            assert daemon_errors(c.stderr) == daemon_errors(d.stderr)


def test_container_inspect(h1):
    h1.api("run", "-d", "--name", "ins", "-h", "insh", "alpine", "sleep", "60")
    h1.both("container", "inspect", "ins")
    h1.both("container", "inspect", "--format", "json", "ins")
    h1.both("container", "inspect", "-f", "{{.Name}} {{.State.Running}} {{json .Config.Cmd}} "
            "{{.Config.Hostname}}", "ins")
    d, c = h1.both("container", "inspect", "ins", "nope")
    assert d.returncode == 1 and c.stderr == d.stderr


def test_container_stop_and_rm(h1):
    outcomes = []
    for tool, name in ((h1.docker, "alpha"), (h1.cnm, "omega")):
        h1.api("run", "-d", "--name", name + "1", "alpine", "sleep", "60")
        h1.api("run", "-d", "--name", name + "2", "alpine", "sleep", "60")
        stop = tool("container", "stop", name + "1", "nope")
        rm = tool("container", "rm", name + "1", name + "2", "nope")
        force = tool("container", "rm", "-f", name + "2", "nope")
        outcomes.append([(r.stdout.replace(name, "X"), r.returncode,
                          daemon_errors(r.stderr.replace(name, "X"))) for r in (stop, rm, force)])
    assert outcomes[0] == outcomes[1]
    stop, rm, force = outcomes[0]
    assert stop[:2] == ("X1\n", 1)
    assert rm[:2] == ("X1\n", 1) and len(rm[2]) == 2  # X2 runs, nope is unknown
    assert force[:2] == ("X2\n", 0)


# -- choosing the host ---------------------------------------------------------------------


def test_docker_host_is_used_without_lab_flags(h1):
    h1.api("network", "create", "envnet")
    d = h1.docker("network", "ls")
    c = h1.cnm("network", "ls", env_host=h1.socket_url())
    assert (c.stdout, c.returncode) == (d.stdout, d.returncode)
    other = h1.cnm("network", "ls", host="h2")
    assert other.returncode == 0 and "envnet" not in other.stdout


def test_an_unreachable_daemon(h1):
    url = "unix:///nonexistent/cnm-test.sock"
    env = {**os.environ, "DOCKER_HOST": url, "DOCKER_CONFIG": h1.config}
    d = subprocess.run([DOCKER, "network", "ls"], capture_output=True, text=True, env=env)
    c = h1.cnm("network", "ls", env_host=url)
    assert (c.stdout, c.returncode, c.stderr) == (d.stdout, d.returncode, d.stderr)


def test_an_unknown_host_or_lab_is_one_line(h1):
    done = h1.cnm("network", "ls", host="h9")
    assert done.returncode == 1 and "h9" in done.stderr and "Traceback" not in done.stderr
    env_free = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    done = subprocess.run([*CNM, "container", "ls", "--lab", lab_name()], capture_output=True,
                          text=True, env=env_free, cwd=REPO)
    assert done.returncode == 1 and "no lab named" in done.stderr
