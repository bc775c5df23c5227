"""Containers are sandboxes: their own root, PID namespace, user, capabilities, mounts.

The docker CLI (28.2) against an emulated host, as a user would type it; nothing a
container writes lands on the machine unless a -v says so.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cliresults import docker_env as cli_env

from emulator import Lab
from emulator.fabric.rootfs import MOUNTPOINT

DOCKER = shutil.which("docker") or "docker"
pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")


@pytest.fixture(scope="module")
def lab():
    with Lab.default("rt" + secrets.token_hex(3)) as running:
        yield running


@pytest.fixture(scope="module")
def docker_env(lab, tmp_path_factory):
    return cli_env(lab.docker_host_url("h1"), tmp_path_factory.mktemp("docker-config"))


@pytest.fixture
def docker(lab, docker_env):
    def run(*args: str, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=docker_env, capture_output=True,
                              text=True, input=input, timeout=timeout)

    yield run
    engine = lab.host("h1").engine
    engine.remove_containers(list(engine.containers), force=True)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def mounts_of_the_machine() -> str:
    return Path("/proc/self/mountinfo").read_text()


def test_busybox_images_see_their_own_root(docker):
    listing = ok(docker("run", "--rm", "alpine", "ls", "/")).split()
    assert "bin" in listing and "work" not in listing
    assert ok(docker("run", "--rm", "busybox:1.36", "readlink", "/bin/sh")) == "/bin/busybox\n"
    assert ok(docker("run", "--rm", "alpine", "pwd")) == "/\n"
    assert "root:x:0:0" in ok(docker("run", "--rm", "alpine", "cat", "/etc/passwd"))


def test_other_images_see_the_machine_under_a_layer_of_their_own(docker):
    listing = ok(docker("run", "--rm", "debian", "ls", "/")).split()
    assert "work" in listing and "usr" in listing
    ok(docker("run", "--rm", "debian", "sh", "-c", "echo x > /etc/rt-written"))
    assert not Path("/etc/rt-written").exists()
    refused = docker("run", "--rm", "--read-only", "debian", "touch", "/etc/rt-written")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert ok(docker("run", "--rm", "debian", "sh", "-c", "echo x > /tmp/a && cat /tmp/a")) \
        == "x\n"
    assert ok(docker("run", "--rm", "debian", "ls", "/run")) == ""
    assert ok(docker("run", "--rm", "debian", "python3", "-c", "print(6 * 7)")) == "42\n"


def test_ps_shows_only_the_containers_processes(docker):
    ok(docker("run", "-d", "--name", "rt-ps", "alpine", "sleep", "300"))
    rows = ok(docker("exec", "rt-ps", "ps", "-o", "pid,args")).splitlines()[1:]
    commands = {row.split(None, 1)[0]: row.split(None, 1)[1] for row in rows}
    assert commands["1"] == "sleep 300"
    assert len(commands) == 2  # sleep and ps itself
    assert ok(docker("exec", "rt-ps", "ls", "/sys/class/net")).split() == ["eth0", "lo"]


def test_writes_stay_in_the_container(docker, tmp_path):
    ok(docker("run", "-d", "--name", "rt-w", "alpine", "sleep", "300"))
    ok(docker("exec", "rt-w", "sh", "-c", "echo inside > /etc/rt-file && echo x > /rt-top"))
    assert ok(docker("exec", "rt-w", "cat", "/etc/rt-file")) == "inside\n"
    assert not Path("/etc/rt-file").exists() and not Path("/rt-top").exists()
    other = docker("run", "--rm", "alpine", "cat", "/etc/rt-file")
    assert other.returncode != 0  # another container has its own layer


def test_volumes_land_where_asked(docker, tmp_path):
    shared, missing = tmp_path / "shared", tmp_path / "made"
    shared.mkdir()
    (shared / "in").write_text("from the machine\n")
    ok(docker("run", "--rm", "-v", f"{shared}:/data", "alpine", "sh", "-c",
              "cat /data/in && echo out > /data/out"))
    assert (shared / "out").read_text() == "out\n"
    ok(docker("run", "--rm", "-v", f"{missing}:/m", "alpine", "true"))
    assert missing.is_dir()
    refused = docker("run", "--rm", "-v", f"{shared}:/data:ro", "alpine", "touch", "/data/x")
    assert refused.returncode != 0 and not (shared / "x").exists()
    nowhere = docker("run", "--rm", "--mount", f"type=bind,src={tmp_path}/nope,dst=/n",
                     "alpine", "true")
    assert nowhere.returncode != 0
    assert (f'invalid mount config for type "bind": bind source path does not exist: '
            f"{tmp_path}/nope") in nowhere.stderr
    sized = ok(docker("run", "--rm", "--tmpfs", "/scratch:size=1m", "alpine", "df", "-k",
                      "/scratch"))
    assert " 1024 " in sized


def test_a_device_node_made_in_a_container_opens_nothing(docker):
    for where in ("/tmp", "/dev", "/root"):
        made = docker("run", "--rm", "alpine", "sh", "-c",
                      f"mknod {where}/disk b 254 0 && head -c 1 {where}/disk")
        assert made.returncode != 0 and "Permission denied" in made.stderr, made


def test_read_only_root_with_tmpfs_writable(docker):
    refused = docker("run", "--rm", "--read-only", "alpine", "touch", "/x")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    ok(docker("run", "--rm", "--read-only", "--tmpfs", "/tmp", "alpine", "touch", "/tmp/x"))


def test_working_directory_and_user(docker):
    assert ok(docker("run", "--rm", "-w", "/srv/app", "alpine", "pwd")) == "/srv/app\n"
    assert ok(docker("run", "--rm", "--user", "nobody", "alpine", "id", "-u")) == "65534\n"
    assert ok(docker("run", "--rm", "--user", "1234:5", "alpine", "id")) == \
        "uid=1234 gid=5(tty) groups=5(tty)\n"
    missing = docker("run", "--rm", "--user", "ghost", "alpine", "true")
    assert missing.returncode != 0
    assert "unable to find user ghost: no matching entries in passwd file" in missing.stderr
    ok(docker("run", "-d", "--name", "rt-u", "--user", "nobody", "alpine", "sleep", "300"))
    assert ok(docker("exec", "rt-u", "id", "-u")) == "65534\n"
    assert ok(docker("exec", "-u", "root", "-w", "/etc", "rt-u", "sh", "-c",
                     "id -u; pwd")) == "0\n/etc\n"


def test_capabilities(docker):
    ok(docker("run", "-d", "--name", "rt-c", "alpine", "sleep", "300"))
    gateway = ok(docker("exec", "rt-c", "ip", "route")).split()[2]
    ok(docker("exec", "rt-c", "ping", "-c", "1", "-W", "2", gateway))
    add = ("ip", "addr", "add", "10.99.0.1/32", "dev", "lo")
    assert docker("exec", "rt-c", *add).returncode != 0
    ok(docker("exec", "--privileged", "rt-c", *add))
    dropped = docker("run", "--rm", "--cap-drop", "NET_RAW", "alpine", "ping", "-c", "1",
                     "-W", "2", gateway)
    assert dropped.returncode != 0
    ok(docker("run", "--rm", "--cap-add", "NET_ADMIN", "alpine", *add))
    ok(docker("run", "--rm", "--cap-add", "cap_net_admin", "alpine", *add))
    ok(docker("run", "--rm", "--privileged", "alpine", *add))
    unknown = docker("run", "--rm", "--cap-add", "NOPE", "alpine", "true")
    assert 'unknown capability: "CAP_NOPE"' in unknown.stderr


def test_a_tutorial_server_answers_through_its_published_port(lab, docker):
    ok(docker("run", "-d", "-p", "8080:80", "alpine", "nc", "-ll", "-p", "80", "-e", "echo",
              "hi"))
    address = str(lab.host("h1").address)
    host = lab.host("h1")
    deadline = time.monotonic() + 10
    while True:
        done = host.exec(["busybox", "nc", "-w", "2", address, "8080"])
        if done.stdout == "hi\n" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert done.stdout == "hi\n", done


def test_nothing_is_left_on_the_machine(lab, docker):
    before = mounts_of_the_machine()
    for image in ("alpine", "debian"):
        ok(docker("run", "-d", "--name", f"rt-{image}", "-v", "/tmp:/h", "--tmpfs", "/t",
                  image, "sleep", "300"))
    ok(docker("rm", "-f", "rt-alpine", "rt-debian"))
    assert mounts_of_the_machine() == before
    assert os.listdir(MOUNTPOINT) == []
    state = lab.host("h1").engine.container_files.directory
    assert state is None or not any(state.glob("*/layer"))
