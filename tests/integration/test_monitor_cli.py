"""Watching containers with the real docker CLI against an emulated host: logs
(-f, --tail, -t, --since/--until, streams), stats, top, rename, pause/unpause,
container prune, cp and events, on the real kernel.

Packets are sent from inside containers only (docker exec ... ping).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cliresults import docker_env as cli_env
from conftest import _reset
from leftovers import backstop

from emulator import Lab

DOCKER = shutil.which("docker") or "docker"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (.*)$")
WAIT_S = 15.0

pytestmark = pytest.mark.skipif(shutil.which(DOCKER) is None, reason="no docker CLI")


@pytest.fixture(scope="module")
def lab():
    name = "mo" + secrets.token_hex(3)
    try:
        with Lab.default(name) as running:
            yield running
    finally:
        backstop(name)


@pytest.fixture(scope="module")
def docker_env(lab, tmp_path_factory):
    return cli_env(lab.docker_host_url("h1"), tmp_path_factory.mktemp("docker-config"))


@pytest.fixture
def docker(lab, docker_env):
    """Run `docker ARGS...` against h1; h1's containers and networks go after the test."""

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, *args], env=docker_env, capture_output=True, text=True,
                              timeout=timeout)

    yield run
    _reset(lab.host("h1"))


@pytest.fixture
def background(docker_env):
    """Start `docker ARGS...` in the background (ended, by its pid, after the test)."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen([DOCKER, *args], env=docker_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            _pending.pop(stream.fileno(), None)
            stream.close()


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


def uid() -> str:
    return secrets.token_hex(3)


_pending: dict[int, bytes] = {}


def read_line(proc: subprocess.Popen, timeout: float = WAIT_S) -> str:
    """The next line the process prints (fails after `timeout` without one)."""
    stdout = proc.stdout
    assert stdout is not None
    fd = stdout.fileno()
    deadline = time.monotonic() + timeout
    while b"\n" not in _pending.get(fd, b""):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "no line came"
        chunk = os.read(fd, 65536)
        assert chunk, f"the output ended: {_pending.get(fd, b'')!r}"
        _pending[fd] = _pending.get(fd, b"") + chunk
    line, _, rest = _pending.pop(fd).partition(b"\n")
    _pending[fd] = rest
    return line.decode() + "\n"


def wait_for(condition, timeout: float = WAIT_S, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_for_file(name: str) -> str:
    """Shell that waits until `docker exec NAME touch /tmp/NAME-go`, then removes it."""
    return f"while [ ! -e /tmp/{name}-go ]; do sleep 0.1; done; rm /tmp/{name}-go"


def exited(docker, name: str) -> bool:
    return ok(docker("inspect", "-f", "{{.State.Status}}", name)).strip() == "exited"


# -- logs ----------------------------------------------------------------------------


def test_logs_tail_timestamps_and_streams(docker):
    name = f"lg-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sh", "-c",
              "for i in 1 2 3 4 5; do echo out$i; sleep 0.05; done; echo oops >&2"))
    wait_for(lambda: exited(docker, name), what="the container to end")

    done = docker("logs", name)
    assert done.stdout == "".join(f"out{i}\n" for i in range(1, 6))
    assert done.stderr == "oops\n"

    tail = docker("logs", "--tail", "2", name)
    assert (tail.stdout, tail.stderr) == ("out5\n", "oops\n")
    assert ok(docker("logs", "--tail", "0", name)) == ""

    stamped = ok(docker("logs", "-t", name)).splitlines()
    parsed = [STAMP.match(line) for line in stamped]
    assert all(parsed), stamped
    assert [m.group(2) for m in parsed] == [f"out{i}" for i in range(1, 6)]
    times = [m.group(1) for m in parsed]
    assert times == sorted(times)

    # --since and --until take the CLI's RFC 3339 times: the lines from / up to one
    assert ok(docker("logs", "--since", times[3], name)).split() == ["out4", "out5"]
    assert ok(docker("logs", "--until", times[1], name)).split() == ["out1", "out2"]
    assert ok(docker("logs", "--since", "1h", "--tail", "2", name)) == "out5\n"
    assert ok(docker("logs", "--since", "2000-01-01T00:00:00Z", name)).count("\n") == 5
    assert ok(docker("logs", "--until", "2000-01-01", name)) == ""


def test_logs_follow_sees_lines_as_they_come_and_ends_with_the_container(docker, background):
    name = f"fw-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sh", "-c",
              f"echo first; {wait_for_file(name)}; echo second"))
    follower = background("logs", "-f", name)
    assert read_line(follower) == "first\n"
    assert follower.poll() is None  # still following: the container runs
    ok(docker("exec", name, "touch", f"/tmp/{name}-go"))
    assert read_line(follower) == "second\n"
    assert follower.wait(timeout=WAIT_S) == 0


def test_logs_follow_with_timestamps_and_tail(docker, background):
    name = f"ft-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sh", "-c",
              f"echo a; echo b; echo c; {wait_for_file(name)}; echo d"))
    wait_for(lambda: ok(docker("logs", name)) == "a\nb\nc\n", what="three lines")
    follower = background("logs", "-f", "-t", "--tail", "1", name)
    first = STAMP.match(read_line(follower).rstrip("\n"))
    assert first and first.group(2) == "c"
    ok(docker("exec", name, "touch", f"/tmp/{name}-go"))
    last = STAMP.match(read_line(follower).rstrip("\n"))
    assert last and last.group(2) == "d"
    assert follower.wait(timeout=WAIT_S) == 0


def test_logs_keep_every_run_of_a_restarted_container(docker):
    name = f"rs-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sh", "-c", "echo run; sleep 300"))
    wait_for(lambda: ok(docker("logs", name)) == "run\n", what="the first run's line")
    ok(docker("restart", "-t", "1", name))
    wait_for(lambda: ok(docker("logs", name)) == "run\nrun\n", what="the second run's line")
    ok(docker("stop", "-t", "1", name))
    ok(docker("start", name))
    wait_for(lambda: ok(docker("logs", name)) == "run\n" * 3, what="the third run's line")


# -- stats and top -------------------------------------------------------------------


def test_stats_no_stream_shows_name_id_and_network_bytes_after_a_ping(docker):
    net = f"st-{uid()}"
    ok(docker("network", "create", net))
    ok(docker("run", "-d", "--name", f"{net}-a", "--network", net, "alpine", "sleep", "300"))
    ok(docker("run", "-d", "--name", f"{net}-b", "--network", net, "alpine", "sleep", "300"))
    ok(docker("exec", f"{net}-a", "ping", "-c", "3", "-i", "0.2", f"{net}-b"))
    cid = ok(docker("inspect", "-f", "{{.Id}}", f"{net}-a")).strip()

    out = ok(docker("stats", "--no-stream", "--format",
                    "{{.Name}}|{{.ID}}|{{.NetIO}}|{{.PIDs}}|{{.MemUsage}}|{{.CPUPerc}}",
                    f"{net}-a"))
    name, short_id, net_io, pids, memory, cpu = out.strip().split("|")
    assert (name, short_id) == (f"{net}-a", cid[:12])
    received, sent = (part.strip() for part in net_io.split("/"))
    assert received != "0B" and sent != "0B", net_io
    assert int(pids) >= 1
    assert not memory.startswith("0B"), memory
    assert cpu.endswith("%")

    table = ok(docker("stats", "--no-stream"))
    assert table.splitlines()[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
    assert {line.split()[1] for line in table.splitlines()[1:]} == {f"{net}-a", f"{net}-b"}


def test_stats_api_cpu_fields_let_the_cli_compute_a_share(docker, lab):
    import docker as docker_py

    name = f"cpu-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sh", "-c", "while :; do :; done"))
    client = docker_py.DockerClient(base_url=lab.docker_host_url("h1"))
    try:
        stats = client.containers.get(name).stats(stream=False)
    finally:
        client.close()
    cpu, before = stats["cpu_stats"], stats["precpu_stats"]
    assert stats["name"] == f"/{name}"
    assert cpu["cpu_usage"]["total_usage"] > before["cpu_usage"]["total_usage"] >= 0
    assert cpu["system_cpu_usage"] > before["system_cpu_usage"] > 0
    assert cpu["online_cpus"] >= 1
    assert stats["pids_stats"]["current"] >= 1


def test_top_lists_the_command_and_takes_ps_args(docker):
    name = f"tp-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sleep", "4321"))
    out = ok(docker("top", name)).splitlines()
    assert out[0].split()[:2] == ["UID", "PID"]
    assert any(line.endswith("sleep 4321") for line in out[1:]), out
    pid = ok(docker("inspect", "-f", "{{.State.Pid}}", name)).strip()
    custom = ok(docker("top", name, "-o", "pid,comm")).splitlines()
    assert custom[0].split() == ["PID", "COMMAND"]
    assert [pid, "sleep"] in [line.split() for line in custom[1:]]
    stopped = f"ts-{uid()}"
    ok(docker("create", "--name", stopped, "alpine", "true"))
    refused = docker("top", stopped)
    assert refused.returncode == 1 and "is not running" in refused.stderr


# -- rename, pause, prune ------------------------------------------------------------------


def test_rename_then_reach_by_the_new_name(docker):
    net = f"rn-{uid()}"
    ok(docker("network", "create", net))
    ok(docker("run", "-d", "--name", f"{net}-old", "--network", net, "alpine", "sleep", "300"))
    ok(docker("run", "-d", "--name", f"{net}-client", "--network", net, "alpine",
              "sleep", "300"))
    ok(docker("rename", f"{net}-old", f"{net}-new"))
    assert ok(docker("ps", "--format", "{{.Names}}", "--filter", f"name={net}-new")) == \
        f"{net}-new\n"
    assert ok(docker("inspect", "-f", "{{.Name}}", f"{net}-new")) == f"/{net}-new\n"
    ok(docker("exec", f"{net}-client", "ping", "-c", "1", "-W", "2", f"{net}-new"))
    gone = docker("exec", f"{net}-client", "ping", "-c", "1", "-W", "1", f"{net}-old")
    assert gone.returncode != 0
    same = docker("rename", f"{net}-new", f"{net}-new")
    assert same.returncode == 1
    assert "Renaming a container with the same name as its current name" in same.stderr
    taken = docker("rename", f"{net}-new", f"{net}-client")
    assert taken.returncode == 1 and "is already in use by container" in taken.stderr


def test_pause_stops_a_counter_and_unpause_resumes_it(docker):
    name = f"pz-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sh", "-c",
              "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done"))

    def count() -> int:
        return len(ok(docker("logs", name)).split())

    wait_for(lambda: count() > 2, what="the counter to count")
    ok(docker("pause", name))
    assert ok(docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", name)) == \
        "paused true\n"
    assert "(Paused)" in ok(docker("ps", "--filter", f"name={name}", "--format",
                                   "{{.Status}}"))
    frozen = count()
    time.sleep(0.5)  # ten ticks of the counter, had it been running
    assert count() == frozen
    refused = docker("exec", name, "true")
    assert refused.returncode != 0 and "is paused, unpause the container" in refused.stderr
    again = docker("pause", name)
    assert again.returncode == 1 and "is already paused" in again.stderr
    kept = docker("rm", name)
    assert kept.returncode == 1 and "container is paused and must be unpaused first" in \
        kept.stderr

    ok(docker("unpause", name))
    assert ok(docker("inspect", "-f", "{{.State.Status}}", name)) == "running\n"
    wait_for(lambda: count() > frozen + 2, what="the counter to go on")
    ok(docker("pause", name))
    ok(docker("stop", name))  # a paused container stops, as Docker's does
    assert exited(docker, name)


def test_container_prune_removes_only_stopped_ones(docker):
    tag = uid()
    ok(docker("run", "-d", "--name", f"up-{tag}", "alpine", "sleep", "300"))
    ok(docker("run", "-d", "--name", f"done-{tag}", "alpine", "true"))
    ok(docker("create", "--name", f"new-{tag}", "--label", "keep=1", "alpine", "true"))
    wait_for(lambda: exited(docker, f"done-{tag}"), what="the container to end")
    done_id = ok(docker("inspect", "-f", "{{.Id}}", f"done-{tag}")).strip()

    labelled = ok(docker("container", "prune", "-f", "--filter", "label!=keep"))
    assert labelled.splitlines()[:2] == ["Deleted Containers:", done_id]
    left = ok(docker("ps", "-a", "--format", "{{.Names}}")).split()
    assert sorted(left) == [f"new-{tag}", f"up-{tag}"]
    recent = ok(docker("container", "prune", "-f", "--filter", "until=1h"))
    assert recent.strip() == "Total reclaimed space: 0B"
    ok(docker("container", "prune", "-f"))
    assert ok(docker("ps", "-a", "--format", "{{.Names}}")).split() == [f"up-{tag}"]


# -- cp -------------------------------------------------------------------------------


def test_cp_into_and_out_of_a_container(docker, tmp_path: Path):
    name = f"cp-{uid()}"
    ok(docker("run", "-d", "--name", name, "--hostname", "cp-host", "alpine", "sleep", "300"))
    source = tmp_path / "note.txt"
    source.write_text("from the machine\n")
    target = f"/tmp/{name}-dir"
    ok(docker("exec", name, "mkdir", target))
    try:
        ok(docker("cp", str(source), f"{name}:{target}/"))
        assert ok(docker("exec", name, "cat", f"{target}/note.txt")) == "from the machine\n"

        ok(docker("cp", f"{name}:/etc/hostname", str(tmp_path / "hostname")))
        assert (tmp_path / "hostname").read_text() == "cp-host\n"
        ok(docker("cp", f"{name}:{target}", str(tmp_path / "back")))
        assert (tmp_path / "back" / "note.txt").read_text() == "from the machine\n"

        missing = docker("cp", f"{name}:/no/such/file", str(tmp_path))
        assert missing.returncode == 1
        assert f"Could not find the file /no/such/file in container {name}" in missing.stderr
    finally:
        docker("exec", name, "rm", "-rf", target)


# -- events ----------------------------------------------------------------------------


def test_events_show_a_network_connect_and_disconnect_in_order(docker, background):
    net = f"ev-{uid()}"
    ok(docker("network", "create", net))
    ok(docker("run", "-d", "--name", f"{net}-c", "alpine", "sleep", "300"))
    cid = ok(docker("inspect", "-f", "{{.Id}}", f"{net}-c")).strip()
    since = f"{time.time():.9f}"  # events from here on, whenever the CLI subscribes
    watcher = background("events", "--since", since, "--filter", "type=network",
                         "--filter", f"network={net}", "--format", "{{json .}}")
    ok(docker("network", "connect", net, f"{net}-c"))
    ok(docker("network", "disconnect", net, f"{net}-c"))
    seen = [json.loads(read_line(watcher)) for _ in range(2)]
    assert [e["Action"] for e in seen] == ["connect", "disconnect"]
    for event in seen:
        assert event["Type"] == "network"
        assert event["Actor"]["Attributes"] == {"container": cid, "name": net,
                                                "type": "bridge"}
        assert event["scope"] == "local" and event["timeNano"] // 10**9 == event["time"]
    assert watcher.poll() is None  # it streams until the client goes


def test_a_container_that_ends_by_itself_dies_at_once_in_the_events(docker, background):
    name = f"dd-{uid()}"
    since = f"{time.time():.9f}"
    watcher = background("events", "--since", since, "--filter", f"container={name}",
                         "--filter", "event=die", "--format", "{{json .}}")
    ok(docker("run", "-d", "--name", name, "alpine", "sh", "-c",
              f"{wait_for_file(name)}; exit 3"))
    ok(docker("exec", name, "touch", f"/tmp/{name}-go"))
    died = json.loads(read_line(watcher))  # nobody asked the engine about the container
    assert died["Action"] == "die" and died["Actor"]["Attributes"]["exitCode"] == "3"
    assert died["Actor"]["Attributes"]["name"] == name


def test_kill_with_a_signal_reaches_the_containers_trap(docker):
    name = f"sg-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sh", "-c",
              "trap 'echo got it; exit 5' USR1; echo ready; while :; do sleep 0.1; done"))
    wait_for(lambda: ok(docker("logs", name)) == "ready\n", what="the trap to be set")
    ok(docker("kill", "-s", "USR1", name))
    wait_for(lambda: exited(docker, name), what="the container to end")
    assert ok(docker("logs", name)) == "ready\ngot it\n"
    assert ok(docker("inspect", "-f", "{{.State.ExitCode}}", name)) == "5\n"
    refused = docker("kill", "-s", "NOPE", name)
    assert refused.returncode == 1 and "invalid signal: NOPE" in refused.stderr


def test_a_detached_rm_container_goes_when_it_ends(docker, background):
    name = f"rm-{uid()}"
    since = f"{time.time():.9f}"
    watcher = background("events", "--since", since, "--filter", f"container={name}",
                         "--format", "{{.Action}}")
    ok(docker("run", "-d", "--rm", "--name", name, "alpine", "sh", "-c",
              f"{wait_for_file(name)}; exit 2"))
    ok(docker("exec", name, "touch", f"/tmp/{name}-go"))
    actions = [read_line(watcher).strip() for _ in range(4)]
    assert actions == ["create", "start", "die", "destroy"]
    assert ok(docker("ps", "-aq", "--filter", f"name={name}")) == ""


def test_stats_stream_a_reading_a_second(docker, lab):
    import docker as docker_py

    name = f"ss-{uid()}"
    ok(docker("run", "-d", "--name", name, "alpine", "sleep", "300"))
    client = docker_py.DockerClient(base_url=lab.docker_host_url("h1"))
    try:
        readings = client.containers.get(name).stats(stream=True, decode=True)
        first, second = next(readings), next(readings)
        readings.close()
    finally:
        client.close()
    assert first["preread"] == "0001-01-01T00:00:00Z"
    assert second["preread"] == first["read"] and second["read"] > first["read"]
    assert second["precpu_stats"] == first["cpu_stats"]


def test_events_since_until_replay_a_containers_life(docker):
    start = time.time()
    name = f"lf-{uid()}"
    ok(docker("run", "-d", "--name", name, "--label", "role=probe", "alpine", "sleep", "300"))
    ok(docker("stop", "-t", "1", name))
    ok(docker("rm", name))
    out = ok(docker("events", "--since", f"{start:.9f}", "--until", f"{time.time():.9f}",
                    "--filter", f"container={name}", "--format",
                    "{{.Type}} {{.Action}} {{index .Actor.Attributes \"role\"}}"))
    actions = [line.split()[1] for line in out.splitlines()]
    assert actions == ["create", "start", "kill", "die", "stop", "destroy"], out
    assert all(line.startswith("container ") and line.endswith(" probe")
               for line in out.splitlines())
