"""The `cnm` command as a user runs it: labs in the background, exec, bad input.

Every lab here is started by `cnm lab up` in a subprocess and removed by `cnm lab
down`; each test checks that nothing of its lab is left afterwards.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import lab_name, run_cnm
from leftovers import assert_nothing_left, marked

from emulator.experiments import isolation
from emulator.lab.cleanup import clean
from emulator.lab.state import RunDir
from emulator.topology import default_topology, load_topology

UP_TIMEOUT = 60.0

CONTAINERS = """\
name: web
hosts:
  h1:
    networks:
      front:
        subnet: 10.10.0.0/24
    containers:
      web: {network: front}
      db: {network: front}
"""


# -- helpers -------------------------------------------------------------------


def lab_down(name: str) -> subprocess.CompletedProcess | None:
    """Remove lab `name` if anything of it exists; a backstop for failed tests too."""
    done = None
    if RunDir(name).exists():
        done = run_cnm("lab", "down", name)
    clean(only=name)  # only this lab's leftovers, and only if its owner is gone
    return done


def lab_up(*args: str) -> subprocess.CompletedProcess:
    try:
        return run_cnm("lab", "up", *args, timeout=UP_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"`cnm lab up {' '.join(args)}` did not return within {UP_TIMEOUT:.0f}s"
        ) from exc


def cnm_exec(name: str, target: str, *argv: str) -> subprocess.CompletedProcess:
    return run_cnm("exec", "--lab", name, target, "--", *argv)


def ls_rows() -> dict[str, str]:
    """`cnm lab ls` as {name: whole line}."""
    done = run_cnm("lab", "ls")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and lines[0].split()[0] == "NAME"
    return {line.split()[0]: line for line in lines[1:] if line.strip()}


def addresses(ip_br_addr: str) -> dict[str, list[str]]:
    """`ip -br addr` output as {interface (without @peer): [address/prefix, ...]}."""
    result = {}
    for line in ip_br_addr.splitlines():
        fields = line.split()
        if fields:
            result[fields[0].split("@")[0]] = fields[2:]
    return result


def net_inode(name: str, host: str) -> str:
    state = RunDir(name).read()
    assert state is not None
    return Path(f"/proc/{state.hosts[host].pid}/ns/net").readlink().name


@pytest.fixture(scope="module")
def running():
    """One default lab, started with `cnm lab up`; yields (name, the lab up result)."""
    name = lab_name()
    try:
        up = lab_up("--name", name)
        assert up.returncode == 0, up.stderr
        yield name, up
    finally:
        lab_down(name)
        assert_nothing_left(name)


# -- the default lab -------------------------------------------------------------


def test_lab_up_reports_the_hosts_once_ready(running):
    name, up = running
    assert up.stderr == ""
    lines = up.stdout.splitlines()
    assert len(lines) == 1
    assert name in lines[0] and "h1" in lines[0] and "h2" in lines[0]
    state = RunDir(name).read()
    assert state is not None and state.ready, "lab up returned before the lab was ready"


def test_lab_ls_lists_the_lab_as_running(running):
    name, _ = running
    row = ls_rows()[name]
    assert row.split()[1] == "running"
    assert "h1,h2" in row


def test_exec_on_a_docker_host_shows_its_underlay_and_docker0(running):
    name, _ = running
    done = cnm_exec(name, "h1", "ip", "-br", "addr")
    assert done.returncode == 0, done.stderr
    addrs = addresses(done.stdout)
    assert addrs["eth0"] == ["192.0.2.11/24"]
    assert addrs["docker0"] == ["172.17.0.1/16"]


def test_exec_on_the_outside_host(running):
    name, _ = running
    done = cnm_exec(name, "outside", "ip", "-br", "addr")
    assert done.returncode == 0, done.stderr
    assert addresses(done.stdout)["eth0"] == ["192.0.2.254/24"]
    assert "docker0" not in addresses(done.stdout)


def test_exec_runs_in_the_lab_not_on_the_machine(running):
    name, _ = running
    done = cnm_exec(name, "h2", "readlink", "/proc/self/ns/net")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == net_inode(name, "h2")
    assert done.stdout.strip() != Path("/proc/self/ns/net").readlink().name


def test_exec_passes_the_exit_code_through(running):
    name, _ = running
    assert cnm_exec(name, "h1", "sh", "-c", "exit 3").returncode == 3
    assert cnm_exec(name, "h1", "true").returncode == 0


def test_exec_of_an_unknown_command_is_127_with_one_line(running):
    name, _ = running
    done = cnm_exec(name, "h1", "no-such-command-cnm")
    assert done.returncode == 127
    assert len(done.stderr.splitlines()) == 1
    assert "no-such-command-cnm" in done.stderr
    assert "Traceback" not in done.stderr


def test_exec_on_an_unknown_host_lists_the_hosts(running):
    name, _ = running
    done = cnm_exec(name, "h9", "true")
    assert done.returncode != 0
    assert "h9" in done.stderr
    for host in ("h1", "h2", "outside"):
        assert host in done.stderr
    assert "Traceback" not in done.stderr


def test_exec_on_an_unknown_lab_fails_cleanly():
    done = cnm_exec(lab_name(), "h1", "true")
    assert done.returncode != 0
    assert "no lab named" in done.stderr
    assert "Traceback" not in done.stderr


def test_lab_logs_of_the_running_lab(running):
    name, _ = running
    shown = run_cnm("lab", "logs", name)
    assert shown.returncode == 0, shown.stderr
    assert f"INFO emulator.lab: lab {name} is ready\n" in shown.stdout
    unknown = lab_name()
    missing = run_cnm("lab", "logs", unknown)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.startswith(f"cnm: no lab named {unknown}; running labs: ")


def test_lab_down_removes_everything():
    name = lab_name()
    try:
        up = lab_up("--name", name)
        assert up.returncode == 0, up.stderr
        assert marked(name), "a running lab has marked processes"
        down = run_cnm("lab", "down", name)
        assert down.returncode == 0, down.stderr
        assert name in down.stdout
        assert_nothing_left(name)
        assert name not in ls_rows()
    finally:
        lab_down(name)
    assert_nothing_left(name)


# -- containers from a topology file ---------------------------------------------


def test_topology_containers_reach_each_other(tmp_path):
    topology = tmp_path / "web.yaml"
    topology.write_text(CONTAINERS)
    name = lab_name()
    try:
        up = lab_up(str(topology), "--name", name)
        assert up.returncode == 0, up.stderr
        assert "h1" in up.stdout
        assert ls_rows()[name].split()[-1] == "2"

        db = cnm_exec(name, "h1/db", "ip", "-br", "addr")
        assert db.returncode == 0, db.stderr
        db_addresses = addresses(db.stdout)["eth0"]
        assert db_addresses == ["10.10.0.3/24"]
        web = cnm_exec(name, "h1/web", "ip", "-br", "addr")
        assert addresses(web.stdout)["eth0"] == ["10.10.0.2/24"]

        db_ip = db_addresses[0].split("/")[0]
        ping = cnm_exec(name, "h1/web", "ping", "-c1", "-W1", db_ip)
        assert ping.returncode == 0, ping.stdout + ping.stderr

        hostname = cnm_exec(name, "h1/web", "hostname")
        assert hostname.returncode == 0 and hostname.stdout.strip()
        other = cnm_exec(name, "h1/db", "hostname")
        assert other.stdout.strip() != hostname.stdout.strip()

        missing = cnm_exec(name, "h1/nope", "true")
        assert missing.returncode != 0
        assert "h1/web" in missing.stderr and "h1/db" in missing.stderr
    finally:
        down = lab_down(name)
    assert down is not None and down.returncode == 0, down and down.stderr
    assert_nothing_left(name)


# -- several labs ----------------------------------------------------------------


def test_two_labs_run_side_by_side_and_names_are_exclusive():
    first, second = lab_name(), lab_name()
    try:
        for name in (first, second):
            up = lab_up("--name", name)
            assert up.returncode == 0, up.stderr
        rows = ls_rows()
        assert rows[first].split()[1] == "running"
        assert rows[second].split()[1] == "running"
        assert net_inode(first, "h1") != net_inode(second, "h1")
        for name in (first, second):
            shown = cnm_exec(name, "h1", "ip", "-br", "addr")
            assert addresses(shown.stdout)["eth0"] == ["192.0.2.11/24"]
            ping = cnm_exec(name, "h1", "ping", "-c1", "-W1", "192.0.2.254")
            assert ping.returncode == 0, ping.stdout + ping.stderr

        again = lab_up("--name", first)
        assert again.returncode != 0
        assert len(again.stderr.splitlines()) == 1, again.stderr
        assert f"cnm lab down {first}" in again.stderr
        assert "Traceback" not in again.stderr
        assert ls_rows()[first].split()[1] == "running", "the refused lab up hurt the running lab"
        assert cnm_exec(first, "h2", "true").returncode == 0
    finally:
        for name in (first, second):
            lab_down(name)
    for name in (first, second):
        assert_nothing_left(name)


# -- bad input -------------------------------------------------------------------


BAD_TOPOLOGIES = {
    "duplicate-key": (
        "name: bad\nhosts:\n  h1: {}\n  h1: {}\n",
        4,
        ["duplicate key 'h1'"],
    ),
    "unknown-field": (
        "name: bad\nhosts:\n  h1:\n    colour: red\n",
        4,
        ["colour", "unknown field"],
    ),
    "bad-subnet": (
        "name: bad\nhosts:\n  h1:\n    networks:\n      front:\n        subnet: 10.1.2.3/24\n",
        None,
        ["invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24"],
    ),
    "unknown-driver": (
        "name: bad\nhosts:\n  h1:\n    networks:\n      front:\n        driver: foo\n",
        None,
        ['plugin "foo" not found'],
    ),
}


def _write_bad(tmp_path: Path, case: str) -> tuple[Path, int | None, list[str]]:
    text, line, expected = BAD_TOPOLOGIES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    return path, line, expected


def _assert_reports(stderr: str, path: Path, line: int | None, expected: list[str]) -> None:
    assert "Traceback" not in stderr
    first = stderr.splitlines()[0]
    if line is None:
        assert first.startswith(f"{path}:"), stderr
        assert first.split(":")[1].isdigit(), stderr
    else:
        assert first.startswith(f"{path}:{line}:"), stderr
    for text in expected:
        assert text in stderr


@pytest.mark.parametrize("case", sorted(BAD_TOPOLOGIES))
def test_lab_up_refuses_a_bad_topology_before_making_anything(tmp_path, case):
    path, line, expected = _write_bad(tmp_path, case)
    name = lab_name()
    try:
        done = lab_up(str(path), "--name", name)
        assert done.returncode != 0
        assert done.stdout == ""
        _assert_reports(done.stderr, path, line, expected)
        assert_nothing_left(name)
    finally:
        lab_down(name)


@pytest.mark.parametrize("case", sorted(BAD_TOPOLOGIES))
def test_topology_check_reports_a_bad_topology(tmp_path, case):
    path, line, expected = _write_bad(tmp_path, case)
    done = run_cnm("topology", "check", str(path))
    assert done.returncode != 0
    _assert_reports(done.stderr, path, line, expected)


def test_topology_check_accepts_a_good_topology(tmp_path):
    path = tmp_path / "web.yaml"
    path.write_text(CONTAINERS)
    done = run_cnm("topology", "check", str(path))
    assert done.returncode == 0, done.stderr
    assert str(path) in done.stdout


def test_topology_check_of_a_missing_file_fails_cleanly(tmp_path):
    done = run_cnm("topology", "check", str(tmp_path / "absent.yaml"))
    assert done.returncode != 0
    assert "absent.yaml" in done.stderr and "Traceback" not in done.stderr


SHOWN = {  # what `cnm topology show NAME` must print: the topology that is used
    "default": default_topology,
    "isolation": lambda: load_topology(isolation.default_topology_path()),
    "isolation-dualstack": lambda: load_topology(isolation.dualstack_topology_path()),
}


@pytest.mark.parametrize("name", sorted(SHOWN))
def test_topology_show_prints_the_packaged_topology(tmp_path, name):
    done = run_cnm("topology", "show", name)
    assert done.returncode == 0, done.stderr
    path = tmp_path / f"{name}.yaml"
    path.write_text(done.stdout)
    assert load_topology(path) == SHOWN[name]()
    checked = run_cnm("topology", "check", str(path))
    assert (checked.returncode, checked.stdout) == (0, f"{path}: ok\n"), checked.stderr


def test_topology_show_of_an_unknown_name_lists_the_names():
    done = run_cnm("topology", "show", "nope")
    assert (done.returncode, done.stdout) == (2, "")
    assert ("invalid choice: 'nope' (choose from 'default', 'isolation', "
            "'isolation-dualstack')") in done.stderr


def test_topology_schema_is_json():
    done = run_cnm("topology", "schema")
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["type"] == "object"
    assert "hosts" in schema["properties"]


def test_run_list_names_the_experiments():
    done = run_cnm("run", "--list")
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert "tour" in names and "bench-bringup" in names
