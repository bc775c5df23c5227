"""Containers' logs kept as dockerd's json-file driver keeps them, and `docker logs`
with its options (streams, -t, --tail, --since, --until, -f), without a kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from api_helpers import FakeProcesses, call
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.api import containers
from emulator.api.context import HostContext
from emulator.api.streams import STDERR, STDOUT, frame
from emulator.cnm.containerlogs import (
    MAX_LINE,
    LogRecord,
    LogStore,
    OutputCollector,
    rfc3339_nano,
)
from emulator.cnm.engine import AttachRequest, Engine
from emulator.cnm.lifecycle import ContainerLifecycle
from emulator.fabric.fake import FakeFabric
from emulator.ids import docker_time_ns

T0 = 1_700_000_000_000_000_000


class Clock:
    """A clock the test moves: each reading is a second after the last."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        self.now += 1_000_000_000
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    return LogStore(tmp_path, Clock())


def test_times_are_go_rfc3339_nano_and_dockers_fixed_form() -> None:
    assert rfc3339_nano(T0 + 120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339_nano(T0) == "2023-11-14T22:13:20Z"
    assert rfc3339_nano(T0 + 120_000_000, fixed=True) == "2023-11-14T22:13:20.120000000Z"
    assert docker_time_ns("2023-11-14T22:13:20.12Z") == T0 + 120_000_000


def test_a_record_is_a_json_file_line_and_keeps_any_bytes() -> None:
    record = LogRecord(STDERR, b"caf\xc3\xa9 \xff\n", T0)
    line = record.encoded()
    assert json.loads(line) == {"log": "café \udcff\n", "stream": "stderr",
                                "time": "2023-11-14T22:13:20Z"}
    assert LogRecord.decoded(line) == record


def test_output_is_recorded_line_by_line_each_with_its_time(store: LogStore) -> None:
    store.begin("c1")
    store.append("c1", STDOUT, b"one\ntw")
    store.append("c1", STDERR, b"oops\n")
    store.append("c1", STDOUT, b"o\nthree")
    store.end("c1")
    records, _ = store.records("c1")
    assert [(r.stream, r.data) for r in records] == [
        (STDOUT, b"one\n"), (STDERR, b"oops\n"), (STDOUT, b"two\n"), (STDOUT, b"three")]
    times = [r.time_ns for r in records]
    assert times == sorted(times) and len(set(times)) == 4
    lines = store.path("c1").read_bytes().splitlines()
    assert json.loads(lines[0])["stream"] == "stdout"


def test_a_line_longer_than_16k_is_recorded_in_pieces(store: LogStore) -> None:
    store.begin("c1")
    store.append("c1", STDOUT, b"x" * (MAX_LINE + 10) + b"\n")
    store.end("c1")
    assert [len(r.data) for r in store.records("c1")[0]] == [MAX_LINE, 11]


def test_tail_then_since_and_until(store: LogStore) -> None:
    store.begin("c1")
    for i in range(5):
        store.append("c1", STDOUT, f"line{i}\n".encode())
    store.end("c1")
    everything, _ = store.records("c1")
    times = [r.time_ns for r in everything]
    assert [r.data for r in store.records("c1", tail=2)[0]] == [b"line3\n", b"line4\n"]
    assert store.records("c1", tail=0)[0] == []
    assert [r.data for r in store.records("c1", since_ns=times[3])[0]] == [b"line3\n",
                                                                           b"line4\n"]
    assert [r.data for r in store.records("c1", until_ns=times[0])[0]] == [b"line0\n"]
    # the tail is taken first, then the times
    assert store.records("c1", tail=2, until_ns=times[2])[0] == []


def test_a_follower_gets_new_records_until_the_run_ends(store: LogStore) -> None:
    store.begin("c1")
    store.append("c1", STDOUT, b"before\n")
    _, offset = store.records("c1")
    got: list[bytes] = []
    first = threading.Event()

    def follow() -> None:
        for record in store.follow("c1", offset, heartbeat=0.05):
            if record is not None:
                got.append(record.data)
                first.set()

    follower = threading.Thread(target=follow)
    follower.start()
    store.append("c1", STDOUT, b"after\n")
    assert first.wait(5)
    store.append("c1", STDERR, b"last")
    store.end("c1")
    follower.join(5)
    assert not follower.is_alive() and got == [b"after\n", b"last"]


def test_the_collector_records_a_process_output_until_it_ends(store: LogStore) -> None:
    ended = threading.Event()
    collector = OutputCollector(store, lambda cid: ended.set())
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('hello'); print('bad', file=sys.stderr)"],
        stdout=out_w, stderr=err_w)
    os.close(out_w)
    os.close(err_w)
    try:
        store.begin("c1")
        collector.watch("c1", {out_r: STDOUT, err_r: STDERR}, os.pidfd_open(child.pid))
        assert ended.wait(10)
        assert sorted((r.stream, r.data) for r in store.records("c1")[0]) == [
            (STDOUT, b"hello\n"), (STDERR, b"bad\n")]
        assert not store.recording("c1")
    finally:
        child.wait(timeout=10)
        collector.close()


# -- the route ---------------------------------------------------------------------


@pytest.fixture
def host(engine: Engine, fabric: FakeFabric, tmp_path: Path) -> HostContext:
    engine.lifecycle = ContainerLifecycle(engine, tmp_path, FakeProcesses(fabric).wait_end)
    assert engine.lifecycle.log_store is not None
    engine.lifecycle.log_store._clock = Clock()  # noqa: SLF001 - a clock the test reads
    return HostContext(engine)


def written(host: HostContext, cid: str, *pieces: tuple[int, bytes], end: bool = True) -> None:
    store = host.engine.lifecycle.log_store
    assert store is not None
    store.begin(cid)
    for stream, data in pieces:
        store.append(cid, stream, data)
    if end:
        store.end(cid)


def logs(host: HostContext, **query: str):
    return call(containers.container_logs, host, query={"stdout": "1", "stderr": "1", **query},
                id="web")


def test_logs_frame_each_line_with_its_stream(host: HostContext) -> None:
    cid = host.engine.lifecycle.create("web", [AttachRequest("bridge")]).id
    written(host, cid, (STDOUT, b"out\n"), (STDERR, b"err\n"))
    assert logs(host).raw == frame(STDOUT, b"out\n") + frame(STDERR, b"err\n")
    assert logs(host, stderr="0").raw == frame(STDOUT, b"out\n")
    assert logs(host, stdout="0").raw == frame(STDERR, b"err\n")
    with docker_error(err.InvalidParameter, 400, "You must choose at least one stream"):
        logs(host, stdout="0", stderr="0")


def test_logs_timestamps_tail_since_until(host: HostContext) -> None:
    cid = host.engine.lifecycle.create("web", [AttachRequest("bridge")]).id
    written(host, cid, *[(STDOUT, f"l{i}\n".encode()) for i in range(4)])
    first = T0 + 1_000_000_000
    stamp = rfc3339_nano(first, fixed=True)
    assert logs(host, timestamps="1", tail="1").raw == frame(
        STDOUT, f"{rfc3339_nano(first + 3_000_000_000, fixed=True)} l3\n".encode())
    assert logs(host, timestamps="1").raw.startswith(frame(STDOUT, f"{stamp} l0\n".encode()))
    assert logs(host, tail="all").raw.count(b"\n") == 4
    assert logs(host, tail="-1").raw.count(b"\n") == 4
    since = f"{(first + 2_000_000_000) // 10**9}.000000000"
    assert logs(host, since=since).raw == frame(STDOUT, b"l2\n") + frame(STDOUT, b"l3\n")
    until = f"{(first + 1_000_000_000) // 10**9}"
    assert logs(host, until=until).raw == frame(STDOUT, b"l0\n") + frame(STDOUT, b"l1\n")
    assert logs(host, until="0").raw.count(b"\n") == 4


def test_follow_streams_a_running_containers_lines_until_its_run_ends(
        host: HostContext) -> None:
    lifecycle = host.engine.lifecycle
    cid = lifecycle.create("web", [AttachRequest("bridge")]).id
    lifecycle.start("web")
    written(host, cid, (STDOUT, b"old\n"), end=False)
    response = logs(host, follow="1")
    assert response.stream is not None
    pieces = iter(response.stream)
    assert next(pieces) == frame(STDOUT, b"old\n")
    store = lifecycle.log_store
    store.append(cid, STDERR, b"new\n")
    assert next(p for p in pieces if p) == frame(STDERR, b"new\n")
    store.end(cid)
    assert [p for p in pieces if p] == []


def test_follow_of_a_container_not_running_answers_at_once(host: HostContext) -> None:
    cid = host.engine.lifecycle.create("web", [AttachRequest("bridge")]).id
    written(host, cid, (STDOUT, b"done\n"))
    response = logs(host, follow="1")
    assert response.stream is None and response.raw == frame(STDOUT, b"done\n")
