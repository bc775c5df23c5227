"""Reads do not wait behind writes, and never see a dictionary change under them.

Issue 12, finding 5: under 16 concurrent docker-py clients, list, inspect and exec
had a median latency of 1.5-2.5 s, because every read took the engine's one lock
and waited for whatever write held it. Here a write is held inside the fabric (a
bridge that takes its time), and `docker network ls`, `network inspect`, `ps`,
`inspect` and `exec` are answered meanwhile; and listing while containers are
connected and disconnected never raises "dictionary changed size during iteration".
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from api_helpers import TIMEOUT_S, call

from emulator.api import containers, execs, networks
from emulator.api.context import HostContext
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.fabric.fake import FakeFabric


@pytest.fixture
def host(engine: Engine) -> HostContext:
    engine.create_network(NetworkRequest("front", subnet="10.9.0.0/24"))
    engine.run_container("web", [AttachRequest("front")])
    return HostContext(engine)


@pytest.fixture
def held_write(engine: Engine, fabric: FakeFabric,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Thread]:
    """A network create that holds the engine's lock until the test lets it go."""
    inside, release = threading.Event(), threading.Event()
    create_bridge = fabric.create_bridge

    def slow_bridge(name: str, address, mtu: int) -> None:
        inside.set()
        release.wait(TIMEOUT_S)
        create_bridge(name, address, mtu)

    monkeypatch.setattr(fabric, "create_bridge", slow_bridge)
    writer = threading.Thread(target=engine.create_network, args=(NetworkRequest("slow"),))
    writer.start()
    assert inside.wait(TIMEOUT_S)
    yield writer
    release.set()
    writer.join(TIMEOUT_S)
    assert not writer.is_alive()


def answered_while_held(read: Callable[[], object], writer: threading.Thread) -> object:
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(read).result(timeout=TIMEOUT_S)
    assert writer.is_alive()  # the write was still holding the lock
    return result


def test_network_ls_and_inspect_answer_while_a_write_holds_the_lock(
        host: HostContext, held_write: threading.Thread) -> None:
    listed = answered_while_held(lambda: call(networks.list_networks, host), held_write)
    assert sorted(n["Name"] for n in listed.body) == ["bridge", "front", "host", "none"]
    inspected = answered_while_held(lambda: call(networks.inspect_network, host, id="front"),
                                    held_write)
    assert [c["Name"] for c in inspected.body["Containers"].values()] == ["web"]


def test_ps_and_inspect_answer_while_a_write_holds_the_lock(
        host: HostContext, held_write: threading.Thread) -> None:
    listed = answered_while_held(
        lambda: call(containers.list_containers, host, query={"all": "1"}), held_write)
    assert [c["Names"] for c in listed.body] == [["/web"]]
    inspected = answered_while_held(
        lambda: call(containers.inspect_container, host, id="web"), held_write)
    assert inspected.body["State"]["Running"] is True


def test_exec_runs_while_a_write_holds_the_lock(host: HostContext, engine: Engine,
                                                held_write: threading.Thread) -> None:
    created = answered_while_held(
        lambda: call(execs.create_exec, host, "POST", {"Cmd": ["true"]}, id="web"), held_write)
    assert created.status == 201
    done = answered_while_held(lambda: engine.exec("web", ["true"]), held_write)
    assert done.exit_code == 0


def test_a_container_half_started_is_not_seen_half_started(
        host: HostContext, engine: Engine, fabric: FakeFabric,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A start marks the container running before its networks are joined and its
    process started; a `ps` meanwhile shows it as it was before the start."""
    engine.create_container("late", [AttachRequest("front")])
    inside, release = threading.Event(), threading.Event()
    start_process = fabric.start_process

    def slow_start(*args, **kwargs) -> None:
        inside.set()
        release.wait(TIMEOUT_S)
        start_process(*args, **kwargs)

    monkeypatch.setattr(fabric, "start_process", slow_start)
    starter = threading.Thread(target=engine.start_container, args=("late",))
    starter.start()
    try:
        assert inside.wait(TIMEOUT_S)
        assert engine.get_container("late").running  # the write is half done
        listed = answered_while_held(
            lambda: call(containers.list_containers, host, query={"all": "1"}), starter)
        late = next(c for c in listed.body if c["Names"] == ["/late"])
        assert (late["State"], late["Status"]) == ("created", "Created")
        inspected = call(containers.inspect_container, host, id="late").body
        assert inspected["State"]["Running"] is False
        assert inspected["State"]["StartedAt"] == "0001-01-01T00:00:00Z"
    finally:
        release.set()
        starter.join(TIMEOUT_S)
    late = next(c for c in call(containers.list_containers, host).body
                if c["Names"] == ["/late"])
    assert late["State"] == "running"


def test_a_container_that_ended_is_reaped_by_the_next_read(host: HostContext, engine: Engine,
                                                          fabric: FakeFabric) -> None:
    fabric.exited[engine.get_container("web").id] = 3
    listed = call(containers.list_containers, host, query={"all": "1"})
    assert listed.body[0]["State"] == "exited"
    assert listed.body[0]["Status"].startswith("Exited (3)")


def test_a_listed_container_does_not_change_while_it_is_rendered(engine: Engine,
                                                                  host: HostContext) -> None:
    """What a reader holds is its own: a connect meanwhile cannot change it mid-iteration."""
    engine.create_network(NetworkRequest("back", subnet="10.10.0.0/24"))
    web = next(c for c in engine.list_containers(all=True) if c.name == "web")
    walk = iter(web.attachments.items())
    next(walk)
    engine.connect("back", "web")
    assert list(walk) == []
    inspected = engine.container_copy("web")
    walk = iter(inspected.endpoints)
    next(walk)
    engine.disconnect("back", "web")
    assert len(list(walk)) == 1


def test_a_listed_network_does_not_change_while_it_is_rendered(engine: Engine,
                                                                host: HostContext) -> None:
    front = next(n for n in engine.list_networks() if n.name == "front")
    walk = iter(front.endpoints.values())
    next(walk)
    engine.run_container("db", [AttachRequest("front")])
    assert list(walk) == []
    inspected = engine.network_copy("front")
    walk = iter(inspected.endpoints.values())
    next(walk)
    engine.remove_container("db", force=True)
    assert len(list(walk)) == 1
    assert len(engine.network_copy("front").endpoints) == 1


def test_the_view_after_each_write_is_the_state_it_ended_with(engine: Engine) -> None:
    def same() -> None:
        view = engine.view()
        assert list(view.networks.values()) == list(engine.networks.values())
        assert list(view.containers.values()) == list(engine.containers.values())
        assert all(view.networks[i] is not n for i, n in engine.networks.items())

    steps = [
        lambda: engine.create_network(NetworkRequest("a", subnet="10.1.0.0/24")),
        lambda: engine.create_network(NetworkRequest("b", subnet="10.2.0.0/24")),
        lambda: engine.run_container("one", [AttachRequest("a")]),
        lambda: engine.connect("b", "one"),
        lambda: engine.run_container("two", [AttachRequest("a"), AttachRequest("b")]),
        lambda: engine.disconnect("a", "one"),
        lambda: engine.stop_container("two"),
        lambda: engine.start_container("two"),
        lambda: engine.remove_container("one", force=True),
        lambda: engine.remove_containers(["two"], force=True),
        lambda: engine.remove_network("a"),
        lambda: engine.prune_networks(),
        lambda: engine.close(),
    ]
    same()
    for step in steps:
        step()
        same()
