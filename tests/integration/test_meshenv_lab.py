"""`cnm mesh env`: Weave's `eval $(weave env)` for the mesh, on a real lab.

As a user would: `cnm exec HOST -- mesh launch` on h1 and h2 (h2 peering with h1),
`eval $(cnm mesh env HOST)` in bash, then the real docker CLI (and docker-py) through
the proxy. Verdicts: where containers land (inspect), pings between hosts, what the
shell's variables are after each eval, and that nothing is left once the mesh or
the lab is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest
from conftest import CNM, lab_name

from emulator import Lab
from emulator.experiments.polling import until
from emulator.lab.state import RunDir

MESH = [sys.executable, "-m", "emulator.mesh"]
ROOT = Path(__file__).resolve().parents[2]
UNSET = "<unset>"


def me_lab_name() -> str:
    return "me" + lab_name()[1:]


def cnm(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CNM, *argv], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env=env)


def launch(lab: Lab, host: str, *peers: str) -> None:
    done = cnm("exec", "--lab", lab.name, host, "--", *MESH, "launch", *peers)
    assert done.returncode == 0, done.stderr


def stop(lab: Lab, host: str) -> None:
    cnm("exec", "--lab", lab.name, host, "--", *MESH, "stop")


def shell_env(docker_host: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "ORIG_DOCKER_HOST")}
    return env if docker_host is None else {**env, "DOCKER_HOST": docker_host}


def evaluated(printed: str, env: dict[str, str]) -> dict[str, str]:
    """The shell's environment after `eval $(...)` of what a command printed."""
    done = subprocess.run(
        ["bash", "-c", 'eval $(cat); printf "%s\\n%s\\n" "${DOCKER_HOST-<unset>}" '
                       '"${ORIG_DOCKER_HOST-<unset>}"'],
        input=printed, capture_output=True, text=True, env=env, check=True)
    docker_host, orig = done.stdout.splitlines()
    after = {k: v for k, v in env.items() if k not in ("DOCKER_HOST", "ORIG_DOCKER_HOST")}
    after.update({k: v for k, v in (("DOCKER_HOST", docker_host),
                                    ("ORIG_DOCKER_HOST", orig)) if v != UNSET})
    return after


def eval_mesh_env(lab: Lab, host: str | None, env: dict[str, str], *options: str) -> dict:
    done = cnm("mesh", "env", "--lab", lab.name, *options, *([host] if host else []), env=env)
    assert done.returncode == 0, done.stderr
    return evaluated(done.stdout, env)


def docker_cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, env=env,
                          timeout=60)


def networks_of(env: dict[str, str], container: str) -> list[str]:
    done = docker_cli(env, "inspect", "-f",
                      "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
                      container)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def running(pid: int) -> bool:
    """Alive, not a zombie (an ended daemon waits for PID 1 to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def proxy_url(lab: Lab, host: str) -> str:
    return f"unix://{lab.plugin_dir(host)}/mesh.d/docker.sock"


@pytest.fixture(scope="module")
def mlab():
    with Lab.default(me_lab_name()) as running:
        launch(running, "h1")
        launch(running, "h2", str(running.host("h1").address))
        try:
            yield running
        finally:
            # the network the proxy made goes before the plugin that serves it
            docker_cli(shell_env(running.docker_host_url("h1")), "network", "rm", "mesh")
            for host in ("h1", "h2"):
                stop(running, host)


@pytest.fixture(scope="module")
def far(mlab):
    """A container on h2 put on the mesh by h2's proxy: (its name, its mesh address)."""
    env = eval_mesh_env(mlab, "h2", shell_env())
    ran = docker_cli(env, "run", "-d", "--name", "far", "alpine", "sleep", "infinity")
    assert ran.returncode == 0, ran.stderr
    assert networks_of(env, "far") == ["mesh"]
    address = docker_cli(env, "inspect", "-f", "{{.NetworkSettings.Networks.mesh.IPAddress}}",
                         "far").stdout.strip()
    yield address
    docker_cli(env, "rm", "-f", "far")


def test_eval_mesh_env_then_a_plain_docker_run_is_on_the_mesh_and_reaches_h2(mlab, far):
    engine = mlab.docker_host_url("h1")
    before = shell_env(engine)  # the user had run eval $(cnm env h1)
    during = eval_mesh_env(mlab, "h1", before)
    assert during["DOCKER_HOST"] == proxy_url(mlab, "h1")
    assert during["ORIG_DOCKER_HOST"] == engine
    ran = docker_cli(during, "run", "--name", "near", "alpine", "ping", "-c", "1", "-W", "2",
                     far)
    try:
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "0% packet loss" in ran.stdout
        assert networks_of(during, "near") == ["mesh"]
    finally:
        docker_cli(during, "rm", "-f", "near")
    # the same run straight at the engine lands on the default bridge, off the mesh
    direct = docker_cli(before, "run", "--rm", "alpine", "ping", "-c", "1", "-W", "1", far)
    assert direct.returncode != 0
    after = eval_mesh_env(mlab, None, during, "--restore")
    assert after["DOCKER_HOST"] == engine and "ORIG_DOCKER_HOST" not in after


def test_restore_unsets_a_docker_host_that_was_unset_and_falls_back_to_cnm_env(mlab):
    during = eval_mesh_env(mlab, "h1", shell_env())
    assert during["DOCKER_HOST"] == proxy_url(mlab, "h1")
    assert during["ORIG_DOCKER_HOST"] == ""
    after = eval_mesh_env(mlab, None, during, "--restore")
    assert "DOCKER_HOST" not in after and "ORIG_DOCKER_HOST" not in after
    # a shell that never ran mesh env: --restore HOST gives what `cnm env HOST` gives
    stray = shell_env(proxy_url(mlab, "h1"))
    assert eval_mesh_env(mlab, "h1", stray, "--restore")["DOCKER_HOST"] == \
        mlab.docker_host_url("h1")


def test_containers_that_name_a_network_are_left_alone(mlab):
    env = eval_mesh_env(mlab, "h1", shell_env())
    done = docker_cli(env, "run", "--rm", "--network", "none", "alpine", "ip", "-o", "link")
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[1].strip() for line in done.stdout.splitlines()] == ["lo"]
    for name, network in (("onbridge", "bridge"), ("onnone", "none"), ("onhost", "host")):
        created = docker_cli(env, "create", "--name", name, "--network", network, "alpine",
                             "true")
        assert created.returncode == 0, created.stderr
    try:
        assert networks_of(env, "onbridge") == ["bridge"]
        assert networks_of(env, "onnone") == ["none"]
        assert networks_of(env, "onhost") == ["host"]
    finally:
        docker_cli(env, "rm", "-f", "onbridge", "onnone", "onhost")


def test_streams_and_hijacked_connections_pass_through_the_proxy(mlab, far):
    env = eval_mesh_env(mlab, "h1", shell_env())
    ran = docker_cli(env, "run", "-d", "--name", "streams", "alpine", "sh", "-c",
                     "echo started; sleep infinity")
    assert ran.returncode == 0, ran.stderr
    try:
        piped = subprocess.run(["docker", "exec", "-i", "streams", "cat"], input="over stdin\n",
                               capture_output=True, text=True, env=env, timeout=60)
        assert piped.stdout == "over stdin\n", piped.stderr
        assert docker_cli(env, "exec", "streams", "sh", "-c", "exit 5").returncode == 5
        # the container's process runs a moment after `run -d` returns, as on Docker
        until(lambda: docker_cli(env, "logs", "streams").stdout == "started\n", 20,
              lambda: f"docker logs streams: {docker_cli(env, 'logs', 'streams')!r}")
        attached = docker_cli(env, "run", "--rm", "alpine", "sh", "-c", "echo out; exit 3")
        assert (attached.returncode, attached.stdout) == (3, "out\n")
    finally:
        docker_cli(env, "rm", "-f", "streams")


def test_docker_py_through_the_proxy(mlab, far):
    url = eval_mesh_env(mlab, "h1", shell_env())["DOCKER_HOST"]
    client = docker.DockerClient(base_url=url, version="auto", timeout=60)
    try:
        container = client.containers.run("alpine", ["sleep", "infinity"], detach=True,
                                          name="pyclient")
        try:
            container.reload()
            assert list(container.attrs["NetworkSettings"]["Networks"]) == ["mesh"]
            exit_code, output = container.exec_run(["ping", "-c", "1", "-W", "2", far])
            assert exit_code == 0, output
        finally:
            container.remove(force=True)
        assert client.containers.run("alpine", ["echo", "hi"], remove=True) == b"hi\n"
        alone = client.containers.create("alpine", ["true"], network_mode="none")
        try:
            assert list(alone.attrs["NetworkSettings"]["Networks"]) == ["none"]
        finally:
            alone.remove(force=True)
    finally:
        client.close()


def test_mesh_stop_and_lab_teardown_leave_no_proxy():
    with Lab.default(me_lab_name()) as lab:
        launch(lab, "h1")
        launch(lab, "h2", str(lab.host("h1").address))
        sockets = {host: Path(proxy_url(lab, host).removeprefix("unix://"))
                   for host in ("h1", "h2")}
        for host in ("h1", "h2"):
            eval_mesh_env(lab, host, shell_env())
            assert sockets[host].is_socket()
        pid = int((lab.plugin_dir("h1") / "mesh.d" / "mesh.pid").read_text())
        stop(lab, "h2")
        assert not sockets["h2"].exists()
        refused = cnm("mesh", "env", "--lab", lab.name, "h2")
        assert refused.returncode == 1 and refused.stdout == ""
        assert "start it first: cnm exec h2 -- mesh launch" in refused.stderr
        status = cnm("exec", "--lab", lab.name, "h1", "--", *MESH, "status")
        assert f"Engine API proxy {proxy_url(lab, 'h1')}" in status.stdout
        run_dir = RunDir(lab.name).path
    # h1's mesh was never stopped: the lab ended it with everything else
    assert not running(pid)
    assert not sockets["h1"].exists()
    assert not run_dir.exists()


def test_mesh_env_on_the_host_fronts_the_shells_docker_host(mlab):
    engine = mlab.docker_host_url("h1")
    before = shell_env(engine)  # eval $(cnm env h1), then the mesh program on h1 itself
    done = cnm("exec", "--lab", mlab.name, "h1", "--", *MESH, "env", env=before)
    assert done.returncode == 0, done.stderr
    during = evaluated(done.stdout, before)
    assert (during["DOCKER_HOST"], during["ORIG_DOCKER_HOST"]) == (proxy_url(mlab, "h1"), engine)
    assert "eval $(mesh env --restore)" in done.stdout
