"""`docker events` on a fake fabric: what the engine publishes, in which order, with
dockerd's shapes and filters, and the stream that ends when its client goes."""

from __future__ import annotations

import threading
import time

import pytest
from api_helpers import FakeProcesses, call
from engine_helpers import docker_error
from served import served

from emulator import errdefs as err
from emulator.api import events as events_api
from emulator.api.context import HostContext
from emulator.cnm.engine import AttachRequest, Engine, NetworkRequest
from emulator.cnm.events import KEPT, EventBus, matches
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.fabric.fake import FakeFabric


def ticking() -> EventBus:
    clock = iter(range(1_000_000_000, 10**12, 1_000_000_000))
    return EventBus(clock=lambda: next(clock))


class Box:
    """Stands for a container or a network in publish calls."""

    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)


def test_a_container_event_has_dockers_shape_and_deprecated_fields() -> None:
    bus = ticking()
    box = Box(id="c" * 64, name="web", image="alpine:3", labels={"tier": "front"})
    event = bus.container(box, "die", exitCode="3")
    assert event.message() == {
        "status": "die", "id": "c" * 64, "from": "alpine:3",
        "Type": "container", "Action": "die",
        "Actor": {"ID": "c" * 64, "Attributes": {"tier": "front", "exitCode": "3",
                                                  "image": "alpine:3", "name": "web"}},
        "scope": "local", "time": 1, "timeNano": 1_000_000_000,
    }


def test_a_network_event_names_the_network_and_its_driver() -> None:
    event = ticking().network(Box(id="n1", name="front", driver="bridge"), "connect",
                              container="c1")
    assert event.message() == {
        "Type": "network", "Action": "connect",
        "Actor": {"ID": "n1", "Attributes": {"container": "c1", "name": "front",
                                             "type": "bridge"}},
        "scope": "local", "time": 1, "timeNano": 1_000_000_000,
    }


def test_the_bus_keeps_the_last_events_and_replays_between_since_and_until() -> None:
    bus = ticking()
    for i in range(KEPT + 4):
        bus.publish("network", "create", f"n{i}")
    kept = bus.past()
    assert len(kept) == KEPT and kept[0].actor_id == "n4"
    with bus.subscribed(since_ns=10 * 10**9, until_ns=12 * 10**9) as (past, _):
        assert [e.actor_id for e in past] == ["n9", "n10", "n11"]
    with bus.subscribed() as (past, arriving):
        assert past == []  # without since/until, only what comes from now on
        bus.publish("network", "destroy", "n0")
        assert arriving.get_nowait().action == "destroy"
    assert bus.subscribers == 0


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, True),
    ({"type": ["container"]}, True),
    ({"type": ["network"]}, False),
    ({"event": ["start", "die"]}, True),
    ({"event": ["stop"]}, False),
    ({"container": ["web"]}, True),
    ({"container": ["abc"]}, True),  # an ID prefix
    ({"container": ["db"]}, False),
    ({"network": ["front"]}, False),  # a container event is no network's
    ({"label": ["tier"]}, True),
    ({"label": ["tier=front"]}, True),
    ({"label": ["tier=back"]}, False),
    ({"image": ["alpine"]}, True),
    ({"image": ["alpine:3"]}, True),
    ({"image": ["busybox"]}, False),
    ({"scope": ["swarm"]}, False),
])
def test_filters_match_as_dockerds(filters, expected) -> None:
    bus = ticking()
    event = bus.container(Box(id="abc123", name="web", image="alpine:3",
                              labels={"tier": "front"}), "start")
    assert matches(event, filters) is expected


@pytest.fixture
def lifecycle(engine: Engine, fabric: FakeFabric, tmp_path) -> ContainerLifecycle:
    processes = FakeProcesses(fabric)
    engine.lifecycle = ContainerLifecycle(engine, tmp_path, processes.wait_end)
    return engine.lifecycle


def actions(engine: Engine) -> list[str]:
    return [f"{e.type} {e.action}" for e in engine.events.past()]


def test_a_containers_life_is_published_in_dockers_order(engine: Engine,
                                                        lifecycle: ContainerLifecycle) -> None:
    net = engine.create_network(NetworkRequest("front", "bridge"))
    container = lifecycle.create("web", [AttachRequest("front")], image="alpine",
                                 labels={"role": "probe"})
    lifecycle.start("web")
    engine.connect("bridge", "web")
    engine.disconnect("bridge", "web")
    lifecycle.stop("web")
    lifecycle.remove("web")
    engine.remove_network("front")
    assert actions(engine) == [
        "network create", "container create", "network connect", "container start",
        "network connect", "network disconnect",
        "container kill", "network disconnect", "container die", "container stop",
        "container destroy", "network destroy",
    ]
    past = engine.events.past()
    die = next(e for e in past if e.action == "die")
    assert die.attributes == {"role": "probe", "exitCode": "143", "execDuration": "0",
                              "image": "alpine", "name": "web"}
    assert next(e for e in past if e.action == "kill").attributes["signal"] == "15"
    connect = next(e for e in past if e.action == "connect")
    assert (connect.actor_id, connect.attributes["container"]) == (net.id, container.id)


def test_a_kill_dies_with_137_and_a_forced_removal_is_killed(
        engine: Engine, lifecycle: ContainerLifecycle) -> None:
    for name in ("aa", "bb"):
        lifecycle.create(name, [AttachRequest("bridge")])
        lifecycle.start(name)
    lifecycle.kill("aa")
    lifecycle.remove("bb", force=True)
    died = [(e.attributes["name"], e.attributes["exitCode"]) for e in engine.events.past()
            if e.action == "die"]
    assert died == [("aa", "137"), ("bb", "137")]
    kills = [(e.attributes["name"], e.attributes["signal"]) for e in engine.events.past()
             if e.action == "kill"]
    assert kills == [("aa", "9"), ("bb", "9")]


def test_events_refuses_since_after_until(engine: Engine) -> None:
    host = HostContext(engine)
    with docker_error(err.InvalidParameter, 400,
                      "`since` time (20) cannot be after `until` time (10)"):
        call(events_api.events, host, query={"since": "20", "until": "10"})
    with docker_error(err.DockerError, 500, 'strconv.ParseInt: parsing "x": invalid syntax'):
        call(events_api.events, host, query={"since": "x"})


def test_timestamps_are_dockers_seconds_dot_nanoseconds() -> None:
    assert events_api.parse_timestamp("12") == 12_000_000_000
    assert events_api.parse_timestamp("12.5") == 12_500_000_000
    assert events_api.parse_timestamp("12.000000001") == 12_000_000_001


def test_past_events_end_the_stream_when_until_has_passed(tmp_path) -> None:
    with served(tmp_path) as host:
        since = time.time()
        host.post("/networks/create", {"Name": "a"})
        host.post("/networks/create", {"Name": "b"})
        seen = list(host.api.events(since=since, until=time.time() + 0.01, decode=True,
                                    filters={"type": "network"}))
        assert [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in seen] == [
            ("create", "a"), ("create", "b")]


def test_the_stream_goes_on_until_the_client_goes(tmp_path) -> None:
    with served(tmp_path) as host:
        stream = host.api.events(decode=True)
        got: list[dict] = []
        reader = threading.Thread(target=lambda: got.append(next(stream)), daemon=True)
        reader.start()
        deadline = time.monotonic() + 5
        while host.engine.events.subscribers == 0:
            assert time.monotonic() < deadline, "the request never subscribed"
            time.sleep(0.01)
        host.post("/networks/create", {"Name": "watched"})
        reader.join(timeout=5)
        assert got and got[0]["Actor"]["Attributes"]["name"] == "watched"
        stream.close()
        while host.engine.events.subscribers:
            assert time.monotonic() < deadline + 5, "the stream outlived its client"
            time.sleep(0.01)
