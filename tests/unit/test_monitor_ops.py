"""pause/unpause, rename, container prune, top and stats on a fake fabric and a fake
process table: dockerd's rules, texts, shapes and events."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from api_helpers import FakeProcesses, call
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.api import containerops as api
from emulator.api import containers, execs
from emulator.api.context import HostContext
from emulator.cnm.containerops import Sample, go_duration, parse_ps, timestamp_ns
from emulator.cnm.dnsnames import dns_names
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.fabric import containerprocs, processes
from emulator.fabric.fake import FakeFabric

PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        {pid}       1  0 10:01 ?        00:00:00 sleep 300
root           -       -  0 10:01 ?        00:00:00 thread of sleep
root        {child}    {pid}  0 10:01 ?        00:00:00 sh -c echo hi there
root        9999       1  0 10:02 ?        00:00:00 other
"""


class FakeTable:
    """The kernel's side, as a test wants it: two processes per container."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.ps_args: list[list[str]] = []

    def pids(self, pid1: int) -> list[int]:
        return [pid1, pid1 + 1]

    def sample(self, pid1: int, pids: list[int]) -> Sample:
        return Sample(time.time_ns(), 3_000_000, 1_000_000, 9_000_000_000, 2, 4096, 1 << 30,
                      len(pids), {"eth0": {"rx_bytes": 98, "tx_bytes": 42}})

    def freeze(self, cid: str, pid1: int) -> None:
        self.calls.append(("freeze", cid))

    def thaw(self, cid: str) -> None:
        self.calls.append(("thaw", cid))

    def signal(self, pid1: int, number: int) -> None:
        self.calls.append(("signal", str(number)))

    def ps(self, args: list[str]) -> str:
        self.ps_args.append(args)
        pid = args[-1].removeprefix("-q").split(",")[0] if args[-1].startswith("-q") else "0"
        return PS_EF.format(pid=pid, child=int(pid) + 1)


@pytest.fixture
def table() -> FakeTable:
    return FakeTable()


@pytest.fixture
def host(engine: Engine, fabric: FakeFabric, tmp_path, table: FakeTable) -> HostContext:
    engine.lifecycle = ContainerLifecycle(engine, tmp_path, FakeProcesses(fabric).wait_end,
                                          processes=table)
    return HostContext(engine)


def running(host: HostContext, name: str, networks=("bridge",), **options) -> str:
    lifecycle = host.engine.lifecycle
    cid = lifecycle.create(name, [AttachRequest(n) for n in networks], **options).id
    lifecycle.start(cid)
    return cid


def post(handler, host: HostContext, cid: str, **query: str):
    return call(handler, host, "POST", query=query, id=cid)


# -- pause -----------------------------------------------------------------------------


def test_pause_freezes_shows_paused_and_unpause_thaws(host: HostContext,
                                                      table: FakeTable) -> None:
    cid = running(host, "web")
    assert post(api.pause_container, host, "web").status == 204
    shown = call(containers.inspect_container, host, id="web").body["State"]
    assert (shown["Status"], shown["Running"], shown["Paused"]) == ("paused", True, True)
    listed = call(containers.list_containers, host).body[0]
    assert listed["State"] == "paused" and listed["Status"].endswith("(Paused)")
    with docker_error(err.Conflict, 409, f"Container {cid} is already paused"):
        post(api.pause_container, host, "web")
    with docker_error(err.Conflict, 409, "Container web is paused, unpause the container "
                      "before exec"):
        call(execs.create_exec, host, "POST", {"Cmd": ["true"]}, id="web")
    with docker_error(err.Conflict, 409, "container is paused and must be unpaused first"):
        call(containers.remove_container, host, "DELETE", id="web")
    assert post(api.unpause_container, host, "web").status == 204
    assert call(containers.inspect_container, host, id="web").body["State"]["Status"] == \
        "running"
    with docker_error(err.DockerError, 500, f"Container {cid} is not paused"):
        post(api.unpause_container, host, "web")
    assert table.calls == [("freeze", cid), ("thaw", cid)]
    assert [e.action for e in host.engine.events.past()][-2:] == ["pause", "unpause"]


def test_a_paused_container_is_thawed_before_it_stops_or_goes(host: HostContext,
                                                              table: FakeTable) -> None:
    first, second = running(host, "one"), running(host, "two")
    for name in ("one", "two"):
        post(api.pause_container, host, name)
    assert post(containers.stop_container, host, "one").status == 204
    call(containers.remove_container, host, "DELETE", query={"force": "1"}, id="two")
    assert table.calls == [("freeze", first), ("freeze", second), ("thaw", first),
                           ("thaw", second)]
    shown = call(containers.inspect_container, host, id="one").body["State"]
    assert (shown["Status"], shown["Paused"]) == ("exited", False)


def test_only_a_running_container_pauses(host: HostContext) -> None:
    cid = host.engine.lifecycle.create("web", [AttachRequest("bridge")]).id
    with docker_error(err.Conflict, 409, f"container {cid} is not running"):
        post(api.pause_container, host, "web")


def test_kill_with_a_signal_only_sends_it(host: HostContext, table: FakeTable) -> None:
    running(host, "web")
    for given in ("USR1", "SIGUSR1", "sigusr1", "10"):
        assert post(containers.kill_container, host, "web", signal=given).status == 204
    assert table.calls == [("signal", "10")] * 4
    shown = call(containers.inspect_container, host, id="web").body["State"]
    assert shown["Running"] is True
    assert [e.attributes["signal"] for e in host.engine.events.past()
            if e.action == "kill"] == ["10"] * 4
    with docker_error(err.InvalidParameter, 400,
                      "cannot kill container: web: invalid signal: SIGNOPE"):
        post(containers.kill_container, host, "web", signal="SIGNOPE")
    with docker_error(err.InvalidParameter, 400,
                      "cannot kill container: web: invalid signal: 0"):
        post(containers.kill_container, host, "web", signal="0")
    with docker_error(err.InvalidParameter, 400,
                      "cannot kill container: web: the linux daemon does not support signal "
                      "99"):
        post(containers.kill_container, host, "web", signal="99")
    assert post(containers.kill_container, host, "web", signal="KILL").status == 204
    shown = call(containers.inspect_container, host, id="web").body["State"]
    assert (shown["Running"], shown["ExitCode"]) == (False, 137)


# -- rename ----------------------------------------------------------------------------


def test_rename_moves_the_dns_name_and_publishes_the_old_one(host: HostContext) -> None:
    engine = host.engine
    engine.create_network(NetworkRequest("front", "bridge"))
    cid = running(host, "old", networks=("front",))
    assert post(api.rename_container, host, "old", name="new").status == 204
    container = engine.container_copy(cid)
    assert container.name == "new"
    assert dns_names(container, ())[0] == "new"
    network = engine.network_copy("front")
    assert [ep.name for ep in network.endpoints.values()] == ["new"]
    with docker_error(err.NotFound, 404, "No such container: old"):
        call(containers.inspect_container, host, id="old")
    event = engine.events.past()[-1]
    assert (event.action, event.attributes["oldName"], event.attributes["name"]) == (
        "rename", "/old", "new")


def test_rename_refusals(host: HostContext) -> None:
    running(host, "web")
    other = running(host, "db")
    with docker_error(err.InvalidParameter, 400, "Neither old nor new names may be empty"):
        post(api.rename_container, host, "web")
    with docker_error(err.InvalidParameter, 400,
                      "Renaming a container with the same name as its current name"):
        post(api.rename_container, host, "web", name="/web")
    with docker_error(err.InvalidParameter, 400, "Error when allocating new name: Invalid "
                      "container name (/b d), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"):
        post(api.rename_container, host, "web", name="b d")
    with docker_error(err.Conflict, 409, 'Error when allocating new name: Conflict. The '
                      f'container name "/db" is already in use by container "{other}". You '
                      "have to remove (or rename) that container to be able to reuse that "
                      "name."):
        post(api.rename_container, host, "web", name="db")


# -- prune -----------------------------------------------------------------------------


def test_prune_removes_what_is_not_running_and_matches(host: HostContext) -> None:
    lifecycle = host.engine.lifecycle
    running(host, "up")
    done = running(host, "done", labels={"keep": "no"})
    lifecycle.stop("done")
    fresh = lifecycle.create("fresh", [AttachRequest("bridge")], labels={"keep": "yes"}).id

    def prune(**filters: list[str]):
        import json
        return call(api.prune_containers, host, "POST",
                    query={"filters": json.dumps(filters)} if filters else None).body

    assert prune(label=["keep=yes"], until=["1h"]) == {"ContainersDeleted": None,
                                                       "SpaceReclaimed": 0}
    assert prune(**{"label!": ["keep=yes"]}) == {"ContainersDeleted": [done],
                                                 "SpaceReclaimed": 0}
    assert prune() == {"ContainersDeleted": [fresh], "SpaceReclaimed": 0}
    assert [c.name for c in host.engine.list_containers(all=True)] == ["up"]
    with docker_error(err.InvalidParameter, 400, "invalid filter 'name'"):
        prune(name=["up"])
    with docker_error(err.InvalidParameter, 400, "more than one until filter specified"):
        prune(until=["1h", "2h"])
    assert host.engine.events.past()[-1].action == "prune"


def test_go_durations_and_timestamps() -> None:
    assert go_duration("1h30m") == 5400.0
    assert go_duration("1.5s") == 1.5
    assert go_duration("10") is None and go_duration("") is None
    now = 1_700_000_000.0
    assert timestamp_ns("10m", now=lambda: now) == int(now - 600) * 10**9
    assert timestamp_ns("1700000000.5") == 1_700_000_000_500_000_000
    assert timestamp_ns("2023-11-14T22:13:20Z") == 1_700_000_000 * 10**9
    assert timestamp_ns("2023-11-14T22:13:20.25+00:00") == 1_700_000_000_250_000_000
    with docker_error(err.InvalidParameter, 400,
                      'failed to parse value as time or duration: "soon"'):
        timestamp_ns("soon")


# -- top -------------------------------------------------------------------------------


def test_top_runs_ps_with_the_args_and_keeps_the_containers_rows(
        host: HostContext, table: FakeTable) -> None:
    cid = running(host, "web")
    pid = host.engine.get_container(cid).pid
    listed = call(api.container_top, host, id="web").body
    assert table.ps_args == [["-ef", f"-q{pid},{pid + 1}"]]
    assert listed["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert [row[1] for row in listed["Processes"]] == [str(pid), "-", str(pid + 1)]
    assert listed["Processes"][2][-1] == "sh -c echo hi there"
    call(api.container_top, host, query={"ps_args": "aux"}, id="web")
    assert table.ps_args[-1][0] == "aux"
    with docker_error(err.DockerError, 500, 'specifying "user=PID" is not allowed'):
        call(api.container_top, host, query={"ps_args": "-o user=PID"}, id="web")


def test_parse_ps_needs_a_pid_column() -> None:
    with docker_error(err.DockerError, 500, "Couldn't find PID field in ps output"):
        parse_ps("USER CMD\nroot x\n", [1])


# -- stats -----------------------------------------------------------------------------


def test_stats_one_shot_has_dockers_shape(host: HostContext) -> None:
    cid = running(host, "web")
    body = call(api.container_stats, host, query={"stream": "0", "one-shot": "1"},
                id="web").body
    assert (body["name"], body["id"]) == ("/web", cid)
    assert body["cpu_stats"]["cpu_usage"] == {"total_usage": 4_000_000,
                                              "usage_in_kernelmode": 1_000_000,
                                              "usage_in_usermode": 3_000_000}
    assert body["cpu_stats"]["system_cpu_usage"] == 9_000_000_000
    assert body["cpu_stats"]["online_cpus"] == 2
    assert body["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert "system_cpu_usage" not in body["precpu_stats"]
    assert body["memory_stats"] == {"usage": 4096, "stats": {"rss": 4096}, "limit": 1 << 30}
    assert body["pids_stats"] == {"current": 2}
    assert body["networks"] == {"eth0": {"rx_bytes": 98, "tx_bytes": 42}}
    assert body["preread"] == "0001-01-01T00:00:00Z"
    assert set(body["blkio_stats"]) >= {"io_service_bytes_recursive", "sectors_recursive"}


def test_stats_of_a_stopped_container_are_its_name_and_zeros(host: HostContext) -> None:
    cid = host.engine.lifecycle.create("web", [AttachRequest("bridge")]).id
    body = call(api.container_stats, host, query={"stream": "false"}, id="web").body
    assert (body["name"], body["id"], body["read"]) == ("/web", cid, "0001-01-01T00:00:00Z")
    assert body["memory_stats"] == {} and "networks" not in body
    with docker_error(err.InvalidParameter, 400, "cannot have stream=true and one-shot=true"):
        call(api.container_stats, host, query={"one-shot": "1"}, id="web")


def test_streamed_stats_carry_the_previous_reading(host: HostContext, monkeypatch) -> None:
    monkeypatch.setattr(api, "STATS_INTERVAL_S", 0.0)
    running(host, "web")
    response = call(api.container_stats, host, id="web")
    import json
    readings = [json.loads(p) for p in _first_pieces(response.stream, 2)]
    assert readings[0]["preread"] == "0001-01-01T00:00:00Z"
    assert readings[1]["preread"] == readings[0]["read"]
    assert readings[1]["precpu_stats"] == readings[0]["cpu_stats"]


def _first_pieces(stream, count: int) -> list[bytes]:
    got = []
    for piece in stream:
        if piece:
            got.append(piece)
            if len(got) == count:
                stream.close()
                return got
    return got


# -- the kernel's process table (read only) ----------------------------------------------


def test_a_process_and_its_children_are_one_containers_processes() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pids = containerprocs.container_pids(os.getpid())
        assert os.getpid() in pids and child.pid in pids
        assert containerprocs.container_pids(child.pid) == [child.pid]
        times = containerprocs.cpu_times([os.getpid()])
        assert times.total_ns > 0
        assert containerprocs.resident_bytes([os.getpid()]) > 0
    finally:
        child.kill()
        child.wait()
    assert containerprocs.container_pids(child.pid) == []
    assert containerprocs.system_cpu_ns() > 0 and containerprocs.online_cpus() >= 1
    assert "lo" not in containerprocs.interface_counters(os.getpid())


def test_a_process_ended_by_a_signal_exits_with_128_plus_it() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    child.send_signal(15)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    assert processes.exit_status(child.pid) == 143
    child.returncode = 143  # reaped above: Popen must not wait for it again
