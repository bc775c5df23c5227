"""The `mesh` plugin driven by the emulator the way a user would: `cnm exec HOST -- mesh
launch`, `docker network create -d mesh`, containers on two hosts, `mesh connect`."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from conftest import CNM, lab_name

from emulator import Lab

MESH = [sys.executable, "-m", "emulator.mesh"]


@pytest.fixture(scope="module")
def mlab():
    with Lab.default(lab_name()) as running:
        yield running


def cnm_exec(lab: Lab, host: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CNM, "exec", "--lab", lab.name, host, "--", *argv],
                          capture_output=True, text=True, timeout=60)


def docker(lab: Lab, host: str, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_HOST": lab.docker_host_url(host)}
    return subprocess.run(["docker", *argv], capture_output=True, text=True, env=env,
                          timeout=60)


def reaches(lab: Lab, host: str, container: str, address: str) -> bool:
    return docker(lab, host, "exec", container, "ping", "-c", "1", "-W", "1",
                  address).returncode == 0


def ip_of(lab: Lab, host: str, container: str, network: str) -> str:
    done = docker(lab, host, "inspect", "-f",
                  f"{{{{.NetworkSettings.Networks.{network}.IPAddress}}}}", container)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_mesh_launch_connect_and_a_global_network_across_hosts(mlab):
    for host in ("h1", "h2"):
        done = cnm_exec(mlab, host, *MESH, "launch")
        assert done.returncode == 0 and done.stdout.startswith("mesh: launched"), done.stderr
    try:
        created = docker(mlab, "h1", "network", "create", "-d", "mesh", "web")
        assert created.returncode == 0, created.stderr
        listed = docker(mlab, "h2", "network", "ls", "--filter", "name=web", "--format",
                        "{{.Name}} {{.Driver}} {{.Scope}}")
        assert listed.stdout.strip() == "web mesh global"
        for host, name in (("h1", "wa"), ("h2", "wb")):
            ran = docker(mlab, host, "run", "-d", "--name", name, "--network", "web",
                         "alpine", "sleep", "infinity")
            assert ran.returncode == 0, ran.stderr
        wa, wb = ip_of(mlab, "h1", "wa", "web"), ip_of(mlab, "h2", "wb", "web")
        assert wa != wb
        # not peered yet: the routers know nothing of each other
        assert not reaches(mlab, "h1", "wa", wb)
        connected = cnm_exec(mlab, "h2", *MESH, "connect", str(mlab.host("h1").address))
        assert connected.returncode == 0, connected.stdout + connected.stderr
        deadline = time.monotonic() + 10
        while not reaches(mlab, "h1", "wa", wb):
            assert time.monotonic() < deadline, "containers never reached each other"
        assert reaches(mlab, "h2", "wb", wa)
        status = cnm_exec(mlab, "h1", *MESH, "status")
        assert str(mlab.host("h2").address) in status.stdout
        # a second mesh network is isolated from the first
        assert docker(mlab, "h1", "network", "create", "-d", "mesh", "db").returncode == 0
        ran = docker(mlab, "h2", "run", "-d", "--name", "dbb", "--network", "db", "alpine",
                     "sleep", "infinity")
        assert ran.returncode == 0, ran.stderr
        assert not reaches(mlab, "h1", "wa", ip_of(mlab, "h2", "dbb", "db"))
        for host, name in (("h1", "wa"), ("h2", "wb"), ("h2", "dbb")):
            assert docker(mlab, host, "rm", "-f", name).returncode == 0
        for network in ("web", "db"):
            assert docker(mlab, "h1", "network", "rm", network).returncode == 0
        assert "web" not in docker(mlab, "h2", "network", "ls").stdout
    finally:
        for host in ("h1", "h2"):
            cnm_exec(mlab, host, *MESH, "stop")
    for host in ("h1", "h2"):
        _, links = mlab.node_exec(host, ["ip", "-br", "link"])
        assert not [line for line in links.splitlines()
                    if line.split()[0].startswith(("mb-", "mv-"))], links
