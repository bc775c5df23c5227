"""The engine's container lifecycle from the Python API: dockerd's wait conditions,
exit codes and auto-remove, the same the Engine API answers with."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from api_helpers import TIMEOUT_S, FakeProcesses
from engine_helpers import docker_error

from emulator import errdefs as err
from emulator.cnm.engine import AttachRequest, Engine
from emulator.cnm.lifecycle import WAIT_CONDITIONS, ContainerLifecycle
from emulator.fabric.fake import FakeFabric

BRIDGE = [AttachRequest("bridge")]


@pytest.fixture
def processes(fabric: FakeFabric) -> FakeProcesses:
    return FakeProcesses(fabric)


@pytest.fixture
def lifecycle(engine: Engine, processes: FakeProcesses) -> ContainerLifecycle:
    engine.lifecycle = ContainerLifecycle(engine, process_end=processes.wait_end)
    return engine.lifecycle


@pytest.fixture
def waiter():
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def test_engine_has_a_lifecycle(engine: Engine) -> None:
    assert isinstance(engine.lifecycle, ContainerLifecycle)
    assert engine.lifecycle.log_dir is None


def test_not_running_answers_at_once_for_a_created_container(
        lifecycle: ContainerLifecycle, processes: FakeProcesses) -> None:
    container = lifecycle.create("web", BRIDGE)
    assert lifecycle.wait(container.id, "not-running") == 0
    assert not processes.awaited_now(container)
    assert not lifecycle.started(container.id).is_set()


@pytest.mark.parametrize("condition", WAIT_CONDITIONS)
def test_a_running_container_is_waited_for_until_its_process_ends(
        engine: Engine, lifecycle: ContainerLifecycle, processes: FakeProcesses, waiter,
        condition: str) -> None:
    container = lifecycle.create("web", BRIDGE)
    assert lifecycle.start(container.id) is True
    answer = waiter.submit(lifecycle.wait, container.id, condition)
    assert processes.awaited(container)
    assert not answer.done()
    processes.end(container, 42)
    assert answer.result(TIMEOUT_S) == 42
    assert engine.get_container("web").running is False


@pytest.mark.parametrize("condition", ["next-exit", "removed"])
def test_next_exit_and_removed_wait_for_a_created_container_to_start(
        lifecycle: ContainerLifecycle, processes: FakeProcesses, waiter,
        condition: str) -> None:
    container = lifecycle.create("web", BRIDGE)
    answer = waiter.submit(lifecycle.wait, container.id, condition)
    lifecycle.start(container.id)
    assert processes.awaited(container)
    processes.end(container, 5)
    assert answer.result(TIMEOUT_S) == 5


def test_removing_a_created_container_ends_its_waits(
        lifecycle: ContainerLifecycle, waiter) -> None:
    container = lifecycle.create("web", BRIDGE)
    answer = waiter.submit(lifecycle.wait, container.id, "removed")
    lifecycle.remove("web")
    assert answer.result(TIMEOUT_S) == 0
    assert lifecycle.started(container.id).is_set()


def test_a_process_that_ended_by_itself_gives_its_exit_code(
        engine: Engine, lifecycle: ContainerLifecycle, processes: FakeProcesses) -> None:
    container = lifecycle.create("web", BRIDGE)
    lifecycle.start("web")
    processes.end(container, 3)
    assert lifecycle.wait(container.id) == 3
    assert lifecycle.wait(container.id) == 3  # and again: it stays exited
    assert engine.get_network("bridge").endpoints == {}


def test_stop_and_kill_set_dockers_exit_codes(lifecycle: ContainerLifecycle) -> None:
    stopped = lifecycle.create("stopped", BRIDGE)
    killed = lifecycle.create("killed", BRIDGE)
    lifecycle.start("stopped")
    lifecycle.start("killed")
    assert lifecycle.stop("stopped") is True
    assert lifecycle.stop("stopped") is False
    lifecycle.kill("killed")
    assert (lifecycle.wait(stopped.id), lifecycle.wait(killed.id)) == (143, 137)
    with docker_error(err.Conflict, 409, f"cannot kill container: killed: container "
                      f"{killed.id} is not running"):
        lifecycle.kill("killed")


def test_auto_remove_happens_after_the_wait(engine: Engine, lifecycle: ContainerLifecycle,
                                            processes: FakeProcesses) -> None:
    container = lifecycle.create("job", BRIDGE, auto_remove=True)
    lifecycle.start("job")
    processes.end(container, 0)
    engine.reap_exited()
    assert engine.get_container("job").running is False  # ended, not yet waited for
    assert lifecycle.wait(container.id) == 0
    assert engine.containers == {}
    assert lifecycle.wait(container.id) == 0  # a late wait for a removed container


def test_restart_runs_the_container_again(engine: Engine, lifecycle: ContainerLifecycle,
                                          processes: FakeProcesses) -> None:
    container = lifecycle.create("web", BRIDGE)
    lifecycle.start("web")
    first_pid = container.pid
    lifecycle.restart("web")
    assert container.running and container.pid != first_pid
    assert [e for e in engine.fabric.log if e[0] == "start_process"] == [
        ("start_process", "sleep"), ("start_process", "sleep")]


def test_logs_come_from_the_log_dir(engine: Engine, tmp_path) -> None:
    lifecycle = ContainerLifecycle(engine, tmp_path)
    container = lifecycle.create("web", BRIDGE)
    assert lifecycle.log_path(container.id) == tmp_path / f"{container.id}-json.log"
    assert lifecycle.logs(container.id) == b""
    (tmp_path / f"{container.id}.log").write_bytes(b"out\n")
    assert lifecycle.logs(container.id) == b"out\n"
    assert ContainerLifecycle(engine).logs(container.id) == b""


def test_output_cannot_be_captured_from_a_running_container(
        engine: Engine, tmp_path) -> None:
    lifecycle = ContainerLifecycle(engine, tmp_path)
    lifecycle.create("web", BRIDGE)
    lifecycle.start("web")
    with docker_error(err.NotImplementedByEmulator, 501, "attaching to a running container is "
                      "not supported by the emulator yet"):
        lifecycle.capture_output("web")
    assert list(tmp_path.iterdir()) == []


def test_a_next_exit_wait_sees_a_start_through_the_engine_itself(
        engine: Engine, lifecycle: ContainerLifecycle, processes: FakeProcesses,
        waiter) -> None:
    """Python API callers may start a container with engine.start_container; a waiter
    for its next exit must hear of that start as it would of one through the API."""
    container = engine.create_container("web", BRIDGE)
    answer = waiter.submit(lifecycle.wait, container.id, "next-exit")
    engine.start_container(container.id)
    assert processes.awaited(container)
    processes.end(container, 3)
    assert answer.result(TIMEOUT_S) == 3


def test_removing_a_never_started_container_through_the_engine_ends_its_waiters(
        engine: Engine, lifecycle: ContainerLifecycle, waiter) -> None:
    container = engine.create_container("web", BRIDGE)
    answer = waiter.submit(lifecycle.wait, container.id, "removed")
    engine.remove_container(container.id)
    assert answer.result(TIMEOUT_S) == 0


def test_a_containers_log_goes_when_it_is_removed(engine: Engine, tmp_path,
                                                  processes: FakeProcesses) -> None:
    lifecycle = engine.lifecycle = ContainerLifecycle(engine, tmp_path,
                                                      process_end=processes.wait_end)
    kept = lifecycle.create("kept", BRIDGE)
    gone = lifecycle.create("gone", BRIDGE)
    for container in (kept, gone):
        lifecycle.start(container.id)
        lifecycle.log_path(container.id).write_bytes(b"out\n")
    lifecycle.remove("gone", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{kept.id}-json.log"]
    assert lifecycle.logs(gone.id) == b""


def test_an_auto_removed_containers_log_goes_with_it(engine: Engine, tmp_path,
                                                     processes: FakeProcesses) -> None:
    lifecycle = engine.lifecycle = ContainerLifecycle(engine, tmp_path,
                                                      process_end=processes.wait_end)
    container = lifecycle.create("job", BRIDGE, auto_remove=True)
    lifecycle.start("job")
    lifecycle.log_path(container.id).write_bytes(b"done\n")
    processes.end(container, 0)
    assert lifecycle.wait(container.id) == 0
    assert engine.containers == {}
    assert list(tmp_path.iterdir()) == []


def test_a_log_goes_with_a_container_removed_through_the_engine_itself(
        engine: Engine, tmp_path, processes: FakeProcesses) -> None:
    lifecycle = engine.lifecycle = ContainerLifecycle(engine, tmp_path,
                                                      process_end=processes.wait_end)
    container = engine.run_container("web", BRIDGE)
    lifecycle.log_path(container.id).write_bytes(b"out\n")
    engine.remove_containers([container.id], force=True)
    assert list(tmp_path.iterdir()) == []


def test_a_wait_for_removal_does_not_remove_a_container_whose_start_is_under_way(
        engine: Engine, lifecycle: ContainerLifecycle, processes: FakeProcesses,
        fabric: FakeFabric, waiter) -> None:
    """`docker run --rm` waits for `removed` while the start runs on another thread:
    mid-start the container is running but has no process yet, and removing it then
    killed the process before it wrote anything (an empty `docker run` output)."""
    import threading

    container = lifecycle.create("web", BRIDGE, auto_remove=True)
    in_start, go_on = threading.Event(), threading.Event()
    start_process = fabric.start_process

    def slow_start(*args, **kwargs) -> None:
        in_start.set()
        assert go_on.wait(TIMEOUT_S)
        start_process(*args, **kwargs)

    fabric.start_process = slow_start  # type: ignore[method-assign]
    with ThreadPoolExecutor(max_workers=1) as starter:
        started = starter.submit(lifecycle.start, container.id)
        assert in_start.wait(TIMEOUT_S)
        answer = waiter.submit(lifecycle.wait, container.id, "removed")
        assert not answer.done()
        go_on.set()
        assert started.result(TIMEOUT_S) is True
    assert processes.awaited(engine.containers[container.id])
    assert not answer.done() and container.id in engine.containers
    processes.end(engine.containers[container.id], 0)
    assert answer.result(TIMEOUT_S) == 0
    assert container.id not in engine.containers
