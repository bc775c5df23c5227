"""Hostile or mistaken input to `cnm` and to an emulated Docker host, as a user gives it.

Topology paths that are not small YAML files, names Docker would refuse or that are
longer than a file name, subnets Docker accepts but the kernel or the lab cannot use,
and the CLI run by a user who is not root: each ends in one clear line, never in an
internal error, a hang or a lab left behind.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

import docker
import docker.errors
import pytest
from conftest import CNM, lab_name, run_cnm

from emulator.lab.state import RUN_ROOT, RunDir

REPO = Path(__file__).resolve().parents[2]
DOCKER = shutil.which("docker") or "docker"
MEMORY_LIMIT = 2 << 30  # a reader that ignores the size limit fails under it, not the machine
TIMEOUT = 60
NOT_ROOT = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
MULTICAST = ("subnet 224.0.0.0/4 overlaps the multicast range 224.0.0.0/4: the kernel routes "
             "no unicast traffic there, so containers cannot start on it")
INSIDE_UNDERLAY = ("subnet 192.0.2.0/25 overlaps 192.0.2.0/24, a network this Docker host is "
                   "attached to: the host will send traffic for 192.0.2.0/25 to this network, "
                   "no longer to the machines of 192.0.2.0/24 in it")


def _bounded_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def cnm_bounded(*args: str) -> subprocess.CompletedProcess:
    """`cnm ARGS` in at most 2 GiB of address space and TIMEOUT seconds."""
    try:
        return subprocess.run([*CNM, *args], capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=REPO, preexec_fn=_bounded_memory)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`cnm {' '.join(args)}` did not return in {TIMEOUT}s") from exc


# -- topology files that are not topologies ------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "topology.yaml"
    os.mkfifo(path)
    return path


@pytest.fixture
def deep(tmp_path: Path) -> Path:
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nhosts: " + "[" * 5000 + "]" * 5000 + "\n")
    return path


BAD_FILES = {  # case -> (path fixture or path, the one line `cnm` must print)
    "dev-zero": ("/dev/zero", "/dev/zero: a character device, not a regular file"),
    "fifo": ("fifo", "{path}: a FIFO (named pipe), not a regular file"),
    "proc-environ": ("/proc/self/environ",
                     "/proc/self/environ:1: not YAML text: control character U+0000 at column "),
    "deep": ("deep", "{path}:2: nested more than 32 levels deep"),
}


@pytest.fixture(params=sorted(BAD_FILES))
def bad_file(request) -> tuple[str, str]:
    where, line = BAD_FILES[request.param]
    path = str(request.getfixturevalue(where)) if not where.startswith("/") else where
    return path, line.format(path=path)


def assert_one_line(done: subprocess.CompletedProcess, line: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(line), done.stderr


def test_topology_check_refuses_what_is_not_a_topology_file(bad_file):
    path, line = bad_file
    assert_one_line(cnm_bounded("topology", "check", path), line)


def test_lab_up_refuses_it_before_making_anything(bad_file):
    path, line = bad_file
    name = lab_name()
    try:
        assert_one_line(cnm_bounded("lab", "up", path, "--name", name), line)
        assert not RunDir(name).exists()
        assert not (RUN_ROOT / f".{name}.log").exists()
    finally:
        if RunDir(name).exists():
            run_cnm("lab", "down", name)


def test_run_refuses_it_before_any_experiment(bad_file, tmp_path):
    path, line = bad_file
    results = tmp_path / "results"
    assert_one_line(cnm_bounded("run", "isolation", "--topology", path, "--results",
                                str(results)), line)
    assert not results.exists()


def test_topology_check_warns_of_subnets_that_will_not_work(tmp_path):
    path = tmp_path / "warn.yaml"
    path.write_text("name: warn\nhosts:\n  h1:\n    networks:\n"
                    "      mc: {subnet: 224.0.0.0/4}\n      ul: {subnet: 192.0.2.0/25}\n")
    done = run_cnm("topology", "check", str(path))
    assert (done.returncode, done.stdout) == (0, f"{path}: ok\n"), done.stderr
    assert done.stderr.splitlines() == [
        f"{path}:5: hosts.h1.networks.mc: warning: {MULTICAST}",
        f"{path}:6: hosts.h1.networks.ul: warning: {INSIDE_UNDERLAY}",
    ]


# -- the CLI without root ---------------------------------------------------------


def cnm_as_nobody(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NOT_ROOT, *CNM, *args], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd="/")


NEEDS_ROOT = {
    "lab up": ["lab", "up", "--name", "nobody"],
    "lab ls": ["lab", "ls"],
    "lab down": ["lab", "down", "nobody"],
    "clean": ["clean"],
    "exec": ["exec", "h1", "--", "true"],
    "env": ["env", "h1"],
    "run": ["run", "tour"],
    "conformance": ["conformance", "--driver", "bridge"],
}


@pytest.mark.parametrize("command", sorted(NEEDS_ROOT))
def test_without_root_a_command_that_needs_it_says_so(command):
    done = cnm_as_nobody(*NEEDS_ROOT[command])
    assert (done.returncode, done.stdout) == (77, ""), done.stderr
    assert done.stderr == (f"cnm {command} needs root: labs are network namespaces, with "
                           "their state in /run/cnm (run it with sudo)\n")


@pytest.mark.parametrize("argv", [
    ["topology", "check", str(REPO / "emulator/topology/default.yaml")],
    ["topology", "schema"],
    ["topology", "show", "isolation"],
    ["--help"],
    ["run", "--list"],
    ["conformance", "--list"],
], ids=lambda argv: " ".join(argv[:2]))
def test_without_root_reading_topologies_and_listing_work(argv):
    done = cnm_as_nobody(*argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout and done.stderr == ""


# -- names and subnets on an emulated Docker host -------------------------------------


@pytest.fixture
def api(h1, lab):
    client = docker.APIClient(base_url=lab.docker_host_url("h1"), timeout=TIMEOUT)
    yield client
    client.close()


@pytest.fixture
def docker_cli(h1, lab, tmp_path):
    if shutil.which(DOCKER) is None:
        pytest.skip("no docker CLI")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=lab.docker_host_url("h1"), DOCKER_CONFIG=str(tmp_path),
               DOCKER_CLI_HINTS="false")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                              timeout=TIMEOUT)

    return run


def host_links(h1) -> list[str]:
    return sorted(line.split()[0] for line in h1.exec(["ip", "-br", "link"]).stdout.splitlines())


def test_a_name_ending_in_a_newline_is_refused_with_dockerds_text(docker_cli):
    done = docker_cli("create", "--name", "web\n", "alpine")
    assert done.returncode != 0
    assert done.stderr == ("Error response from daemon: Invalid container name (web\n), only "
                           "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n")
    assert docker_cli("ps", "-a", "-q").stdout == ""


def test_a_300_character_name_works_like_any_other(docker_cli, lab):
    name = "n" * 300
    created = docker_cli("create", "--name", name, "alpine", "sleep", "infinity")
    assert created.returncode == 0, created.stderr
    started = docker_cli("start", name)
    assert (started.returncode, started.stdout) == (0, name + "\n"), started.stderr
    inside = run_cnm("exec", "--lab", lab.name, f"h1/{name}", "--", "hostname")
    assert (inside.returncode, inside.stdout) == (0, created.stdout[:12] + "\n"), inside.stderr
    removed = docker_cli("rm", "-f", name)
    assert (removed.returncode, removed.stdout) == (0, name + "\n"), removed.stderr
    assert docker_cli("ps", "-a", "-q").stdout == ""
    assert not any((RunDir(lab.name).path / "containers").glob("*/*"))


def test_a_multicast_subnet_is_accepted_with_a_warning_and_a_start_fails_naming_it(api, h1):
    links = host_links(h1)
    config = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="224.0.0.0/4")])
    created = api.create_network("mc", ipam=config)
    assert created["Warning"] == MULTICAST
    container = api.create_container("alpine", ["sleep", "infinity"], name="m1",
                                     host_config=api.create_host_config(network_mode="mc"))
    with pytest.raises(docker.errors.APIError) as caught:
        api.start(container["Id"])
    assert caught.value.response.status_code == 500
    assert caught.value.explanation == ("failed to set gateway: network is unreachable "
                                        f"(network mc: {MULTICAST})")
    assert api.inspect_container("m1")["State"]["Status"] == "created"
    assert api.inspect_network("mc")["Containers"] == {}
    assert len(host_links(h1)) == len(links) + 1  # the network's bridge, no veth
    api.remove_container("m1")
    api.remove_network("mc")
    assert host_links(h1) == links


def test_a_subnet_inside_the_underlay_is_accepted_with_a_warning_that_comes_true(api, h1, lab):
    h2 = lab.host("h2")
    assert h1.exec(["ping", "-c", "1", "-W", "1", str(h2.address)]).exit_code == 0
    created = api.create_network("ul", ipam=docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="192.0.2.0/25")]))
    assert created["Warning"] == INSIDE_UNDERLAY
    assert h1.exec(["ping", "-c", "1", "-W", "1", str(h2.address)]).exit_code != 0
    api.remove_network("ul")
    assert h1.exec(["ping", "-c", "1", "-W", "1", str(h2.address)]).exit_code == 0


def test_the_python_api_gives_the_warning_too(h1):
    assert h1.networks.create("lo8", subnet="127.0.0.0/8").warnings == (
        "subnet 127.0.0.0/8 overlaps the loopback range 127.0.0.0/8: a container keeps "
        "traffic for these addresses to itself, so it reaches neither its gateway nor other "
        "containers",)
    assert h1.networks.create("plain", subnet="10.20.0.0/24").warnings == ()
