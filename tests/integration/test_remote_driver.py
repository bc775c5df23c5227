"""Remote network drivers on the real kernel: discovery, the protocol, failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import lab_name, ping

from emulator import Lab
from emulator.errdefs import DockerError
from emulator.probes.namespaced import popen_in

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def rlab():
    with Lab.default(lab_name()) as running:
        running.plugin_timeout = 1.0
        for host in running.hosts.values():
            host.engine.plugin_timeout = 1.0
        yield running


def start(lab: Lab, host: str, argv: list[str], sock: Path) -> subprocess.Popen:
    proc = popen_in(lab.node_pid(host), argv, lab.process_env)
    deadline = time.monotonic() + 10
    while not sock.is_socket():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the plugin never made its socket"
        time.sleep(0.01)
    return proc


@pytest.fixture
def plugin(rlab):
    started: list[subprocess.Popen] = []

    def run(name: str, *extra: str, host: str = "h1", program: list[str] | None = None) -> Path:
        sock = rlab.plugin_dir(host) / f"{name}.sock"
        argv = program or [sys.executable, "-m", "emulator.plugins.bridgeplugin"]
        started.append(start(rlab, host, [*argv, str(sock), *extra], sock))
        return sock

    yield run
    for host in rlab.hosts.values():
        engine = host.engine
        engine.remove_containers(list(engine.containers), force=True)
        for network in list(engine.networks.values()):
            if not network.predefined:
                try:
                    engine.remove_network(network.id)
                except DockerError:
                    engine.networks.pop(network.id, None)
        for name, _, _ in engine.drivers.loaded():
            if name not in ("bridge", "host", "null"):
                engine.drivers.forget(name)
    for proc in started:
        proc.terminate()
        proc.wait()
    for host in rlab.hosts:
        for leftover in rlab.plugin_dir(host).iterdir():
            leftover.unlink()


def host_links(lab: Lab, host: str = "h1") -> set[str]:
    _, out = lab.node_exec(host, ["ip", "-o", "link", "show"])
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def misbehaving(mode: str) -> list[str]:
    return [sys.executable, str(HERE / "plugins" / "misbehaving.py")]


def test_a_plugin_socket_makes_a_driver(rlab, plugin):
    plugin("bp")
    h1 = rlab.host("h1")
    before = host_links(rlab)
    net = h1.networks.create("pn", "bp", subnet="10.50.0.0/24")
    assert net.inspect()["Driver"] == "bp" and net.inspect()["Scope"] == "local"
    a, b = h1.containers.run("ca", "pn"), h1.containers.run("cb", "pn")
    assert str(a.ip()) == "10.50.0.2" and str(b.ip()) == "10.50.0.3"
    route = a.exec(["ip", "route", "show", "default"]).stdout
    assert route.startswith("default via 10.50.0.1 dev eth0")
    assert ping(a, b.ip()) and ping(b, a.ip())
    assert a.mac() in a.exec(["ip", "-o", "link", "show", "eth0"]).stdout
    a.remove(force=True)
    b.remove(force=True)
    h1.networks.remove("pn")
    assert host_links(rlab) == before


@pytest.mark.parametrize("kind", ["spec", "json"])
def test_a_spec_or_json_file_names_the_socket(rlab, plugin, kind):
    sock = plugin("real")
    directory = rlab.plugin_dir("h1")
    if kind == "spec":
        (directory / "viaspec.spec").write_text(f"unix://{sock}\n")
        name = "viaspec"
    else:
        (directory / "viajson.json").write_text(json.dumps({"Name": "viajson",
                                                            "Addr": f"unix://{sock}"}))
        name = "viajson"
    net = rlab.host("h1").networks.create("pn", name, subnet="10.51.0.0/24")
    assert net.inspect()["Driver"] == name


def test_an_unknown_plugin_is_not_found(rlab):
    with pytest.raises(DockerError) as caught:
        rlab.host("h1").networks.create("pn", "nosuchplugin")
    assert caught.value.message == 'plugin "nosuchplugin" not found'
    assert caught.value.status == 404


def test_a_plugin_that_is_no_network_driver_is_refused(rlab, plugin):
    plugin("ipamonly", "noactivate", program=misbehaving("noactivate"))
    with pytest.raises(DockerError) as caught:
        rlab.host("h1").networks.create("pn", "ipamonly")
    assert caught.value.message == "Plugin does not implement the requested driver"


@pytest.mark.parametrize(("mode", "text"), [
    ("hang", "no answer within 1 s"),
    ("garbage", "the answer is not JSON"),
    ("notjson-object", "the answer is not a JSON object"),
    ("die-on-create", "/NetworkDriver.CreateNetwork"),
])
def test_a_broken_plugin_gets_a_clear_error_and_nothing_is_made(rlab, plugin, mode, text):
    plugin("bad", mode, program=misbehaving(mode))
    h1 = rlab.host("h1")
    before = host_links(rlab)
    with pytest.raises(DockerError) as caught:
        h1.networks.create("pn", "bad", subnet="10.52.0.0/24")
    assert text in caught.value.message
    assert "plugin bad" in caught.value.message
    assert "pn" not in [n.name for n in h1.networks.list()]
    assert host_links(rlab) == before
    # the pool went back: the same subnet can be taken by another network
    h1.networks.create("again", "bridge", subnet="10.52.0.0/24").remove()


def test_an_error_from_join_rolls_the_start_back(rlab, plugin):
    plugin("half", "--break", "halfway")
    h1 = rlab.host("h1")
    net = h1.networks.create("pn", "half", subnet="10.53.0.0/24")
    with pytest.raises(DockerError) as caught:
        h1.containers.run("ca", "pn")
    assert caught.value.message == "remote: bridgeplugin: Join failed halfway (on purpose)"
    assert net.inspect()["Containers"] == {}
    assert "ca" not in [c.name for c in h1.containers.list(all=True)]
    # the address was released: a plugin that works gets .2 again on a fresh network
    assert h1.engine.check() == []


def test_a_global_plugin_network_spans_hosts(rlab, plugin):
    for host in ("h1", "h2"):
        plugin("gp", host=host, program=[sys.executable, str(HERE / "plugins" / "globalbridge.py")])
    h1, h2 = rlab.host("h1"), rlab.host("h2")
    net = h1.networks.create("web", "gp")
    assert net.inspect()["Scope"] == "global"
    seen = {n.name: n.id for n in h2.networks.list()}
    assert seen.get("web") == net.id
    a, b = h1.containers.run("ca", "web"), h2.containers.run("cb", "web")
    assert a.ip() != b.ip()
    with pytest.raises(DockerError) as caught:
        h1.networks.remove("web")
    assert "has active endpoints" in caught.value.message
    b.remove(force=True)
    a.remove(force=True)
    h1.networks.remove("web")
    assert "web" not in [n.name for n in h2.networks.list()]


def test_the_docker_cli_creates_a_plugin_network(rlab, plugin):
    plugin("bp")
    env = {"DOCKER_HOST": rlab.docker_host_url("h1"), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    done = subprocess.run(["docker", "network", "create", "-d", "bp", "--subnet",
                           "10.54.0.0/24", "viacli"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    shown = subprocess.run(["docker", "network", "ls", "--filter", "driver=bp", "--format",
                            "{{.Name}} {{.Driver}} {{.Scope}}"], capture_output=True,
                           text=True, env=env)
    assert shown.stdout.split("\n")[0] == "viacli bp local"
    missing = subprocess.run(["docker", "network", "create", "-d", "nope", "x1"],
                             capture_output=True, text=True, env=env)
    assert missing.returncode != 0
    assert 'Error response from daemon: plugin "nope" not found' in missing.stderr
