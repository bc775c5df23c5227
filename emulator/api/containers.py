"""`/containers`: create, start, stop, kill, restart, remove, list, inspect, wait,
logs and attach. Any image name is accepted: the command runs with the
emulated host's binaries inside the container's namespaces."""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path

from emulator import errdefs as err
from emulator.api import shapes
from emulator.api.router import Request, Response, Router
from emulator.api.streams import MULTIPLEXED_STREAM, STDERR, STDOUT, drain, frame, pump
from emulator.cnm.engine import AttachRequest, Engine
from emulator.cnm.filters import docker_match


def attach_requests(body: dict) -> list[AttachRequest]:
    """The networks of a create request: NetworkMode first, then EndpointsConfig."""
    host_config = body.get("HostConfig") or {}
    raw_endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    endpoints = {("bridge" if k == "default" else k): v for k, v in raw_endpoints.items()}
    mode = host_config.get("NetworkMode") or "default"
    if mode.startswith("container:"):
        raise err.NotImplementedByEmulator("--network container:NAME is not supported by the "
                                           "emulator yet")
    if mode == "default":
        mode = "bridge" if not endpoints or "bridge" in endpoints else next(iter(endpoints))
    names = [mode] + [name for name in endpoints if name != mode]
    requests = []
    for name in names:
        config = endpoints.get(name) or {}
        ipam = config.get("IPAMConfig") or {}
        requests.append(AttachRequest(name, ipam.get("IPv4Address") or None,
                                      tuple(config.get("Aliases") or ())))
    return requests


CONTAINER_FILTERS = ("id", "name", "label", "status", "network")


def _matches(engine: Engine, container, filters: dict[str, list[str]]) -> bool:
    """`docker ps --filter`: id, name, label, status, network (values of one key OR-ed)."""
    def any_of(key: str, test) -> bool:
        values = filters.get(key)
        return not values or any(test(v) for v in values)

    networks = {engine.networks[n].name for n in container.attachments if n in engine.networks}
    labels = container.labels
    return (
        any_of("id", lambda v: container.id.startswith(v))
        and any_of("name", lambda v: docker_match(v, container.name))
        and all((k in labels and (not sep or labels[k] == val))
                for k, sep, val in (v.partition("=") for v in filters.get("label", [])))
        and any_of("status", lambda v: shapes.state(container) == v)
        and any_of("network", lambda v: v in networks)
    )


class LoggedStream:
    """A hijacked stream that also appends what it carries to the container's log,
    so `docker logs` has the output of attached runs too."""

    def __init__(self, hijack, log) -> None:
        self._hijack = hijack
        self._log = log

    def send(self, data: bytes) -> None:
        self._hijack.send(data)
        self._log.write(data[8:])
        self._log.flush()


class Lifecycle:
    """Start events and auto-remove wishes, shared by start, wait and attach."""

    def __init__(self) -> None:
        self.started: dict[str, threading.Event] = {}
        self.auto_remove: set[str] = set()
        self._lock = threading.Lock()

    def event(self, cid: str) -> threading.Event:
        with self._lock:
            return self.started.setdefault(cid, threading.Event())


def _pidfd_of(engine: Engine, cid: str) -> int | None:
    """A pidfd of the container's process, or None if it has already ended."""
    container = engine.containers.get(cid)
    if container is None or not container.running or not container.pid:
        return None
    try:
        return os.pidfd_open(container.pid)
    except ProcessLookupError:
        return None


def _wait_exit(engine: Engine, cid: str, lifecycle: Lifecycle, condition: str) -> int:
    """dockerd's wait: `not-running` answers at once for a container that is not
    running; `next-exit` and `removed` wait for it to start (or go) first."""
    container = engine.containers.get(cid)
    if container is None:
        return 0
    never_started = not container.running and container.started_at == shapes.ZERO_TIME
    if never_started and condition in ("next-exit", "removed"):
        lifecycle.event(cid).wait()
        container = engine.containers.get(cid)
        if container is None:
            return 0
    if container.running and container.pid:
        try:
            pidfd = os.pidfd_open(container.pid)
        except ProcessLookupError:
            pidfd = None
        if pidfd is not None:
            select.select([pidfd], [], [])
            os.close(pidfd)
    engine.reap_exited()
    return engine.containers[cid].exit_code if cid in engine.containers else 0


def register(router: Router, engine: Engine, log_dir: Path | None) -> Lifecycle:
    lifecycle = Lifecycle()

    def create(request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise err.InvalidParameter("container create: the body must be a JSON object")
        command = list(body.get("Entrypoint") or []) + list(body.get("Cmd") or [])
        container = engine.create_container(
            request.arg("name"), attach_requests(body), body.get("Hostname") or None,
            command or None, image=body.get("Image") or "", labels=body.get("Labels") or {},
            env=body.get("Env") or [],
        )
        if (body.get("HostConfig") or {}).get("AutoRemove"):
            lifecycle.auto_remove.add(container.id)
        return Response(201, {"Id": container.id, "Warnings": []})

    def start(request: Request) -> Response:
        engine.reap_exited()
        container = engine.get_container(request.params["id"])
        if container.running:
            return Response(304)
        try:
            engine.start_container(container.id)
        except Exception:
            container.exit_code = 127
            lifecycle.event(container.id).set()  # waiters and attachers must not hang
            _auto_remove(container.id)
            raise
        lifecycle.event(container.id).set()
        return Response(204)

    def stop(request: Request) -> Response:
        engine.reap_exited()
        container = engine.get_container(request.params["id"])
        if not container.running:
            return Response(304)
        engine.stop_container(container.id)
        _auto_remove(container.id)
        return Response(204)

    def kill(request: Request) -> Response:
        container = engine.get_container(request.params["id"])
        if not container.running:
            raise err.Conflict(f"cannot kill container: {container.name}: container "
                               f"{container.id} is not running")
        engine.stop_container(container.id)
        container.exit_code = 137
        _auto_remove(container.id)
        return Response(204)

    def restart(request: Request) -> Response:
        container = engine.get_container(request.params["id"])
        if container.running:
            engine.stop_container(container.id)
        engine.start_container(container.id)
        lifecycle.event(container.id).set()
        return Response(204)

    def _auto_remove(cid: str) -> None:
        if cid in lifecycle.auto_remove and cid in engine.containers:
            lifecycle.auto_remove.discard(cid)
            engine.remove_container(cid, force=True)

    def remove(request: Request) -> Response:
        cid = engine.get_container(request.params["id"]).id
        engine.remove_container(cid, force=request.flag("force"))
        lifecycle.event(cid).set()  # waiters of a never-started container are done too
        return Response(204)

    def listing(request: Request) -> Response:
        engine.reap_exited()
        filters = request.filters()
        unknown = sorted(set(filters) - set(CONTAINER_FILTERS))
        if unknown:
            raise err.InvalidParameter(f"invalid filter '{unknown[0]}'")
        everything = request.flag("all") or "status" in filters
        containers = [c for c in engine.list_containers(all=everything)[::-1]
                      if _matches(engine, c, filters)]
        return Response(200, [shapes.summary(engine, c) for c in containers])

    def inspect(request: Request) -> Response:
        engine.reap_exited()
        container = engine.get_container(request.params["id"])
        log = log_dir / f"{container.id}.log" if log_dir else ""
        return Response(200, shapes.inspect(engine, container, str(log)))

    def wait(request: Request) -> Response:
        cid = engine.get_container(request.params["id"]).id

        condition = request.arg("condition") or "not-running"

        def result() -> dict[str, object]:
            code = _wait_exit(engine, cid, lifecycle, condition)
            _auto_remove(cid)
            return {"StatusCode": code}

        return Response(200, later=result)

    def logs(request: Request) -> Response:
        container = engine.get_container(request.params["id"])
        path = log_dir / f"{container.id}.log" if log_dir else None
        data = path.read_bytes() if path and path.exists() else b""
        return Response(200, raw=frame(STDOUT, data) if data else b"",
                        headers={"Content-Type": MULTIPLEXED_STREAM})

    def attach(request: Request) -> Response | None:
        container = engine.get_container(request.params["id"])
        hijack = request.hijack
        if hijack is None or log_dir is None:
            raise err.NotImplementedByEmulator("attach needs a hijacked connection")
        if container.running:
            raise err.NotImplementedByEmulator("attaching to a running container is not "
                                               "supported by the emulator yet")
        fifos = (log_dir / f"{container.id}.out", log_dir / f"{container.id}.err")
        opened = []
        for fifo in fifos:
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo, 0o600)
            opened.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            opened.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # no EOF before start
        streams = {opened[0]: STDOUT, opened[2]: STDERR}
        engine.fabric.output_fifos[container.id] = fifos
        hijack.upgrade(MULTIPLEXED_STREAM)
        try:
            lifecycle.event(container.id).wait()
            pidfd = _pidfd_of(engine, container.id)
            with open(log_dir / f"{container.id}.log", "ab") as log:
                teed = LoggedStream(hijack, log)
                if pidfd is None:
                    for fd, stream in streams.items():
                        drain(teed, fd, stream, tty=False)
                else:
                    try:
                        pump(teed, streams, tty=False, until_fd=pidfd)
                    finally:
                        os.close(pidfd)
        finally:
            for fd in opened:
                os.close(fd)
            for fifo in fifos:
                fifo.unlink(missing_ok=True)
            hijack.close()
        return None

    router.add("POST", "/containers/create", create)
    router.add("GET", "/containers/json", listing)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/wait", wait)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("POST", "/containers/{id}/attach", attach)
    router.add("DELETE", "/containers/{id}", remove)
    return lifecycle
