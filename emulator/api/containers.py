"""`/containers`: create, start, stop, kill, restart, remove, list, inspect, wait,
logs and attach. Any image name is accepted: the command runs with the
emulated host's binaries inside the container's namespaces. What outlives a
request (start events, waits, auto-remove, logs) is the engine's lifecycle."""

from __future__ import annotations

import os

from emulator import errdefs as err
from emulator.api import apispec, bodies
from emulator.api.context import HostContext
from emulator.api.router import Request, Response, RouteTable
from emulator.api.shapes import containers as shapes
from emulator.api.streams import MULTIPLEXED_STREAM, STDERR, STDOUT, drain, frame, pump
from emulator.cnm.engine import AttachRequest, DnsConfig, Engine
from emulator.cnm.filters import any_of, docker_match, labels_match
from emulator.cnm.lifecycle import CapturedOutput
from emulator.cnm.runtimespec import runtime_spec
from emulator.drivers.portmapping import port_options

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""


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


def dns_config(body: dict) -> DnsConfig:
    """--dns, --dns-search, --dns-option, --add-host and --domainname of a create request."""
    host_config = body.get("HostConfig") or {}
    return DnsConfig(
        servers=tuple(host_config.get("Dns") or ()),
        search=tuple(host_config.get("DnsSearch") or ()),
        options=tuple(host_config.get("DnsOptions") or ()),
        extra_hosts=tuple(host_config.get("ExtraHosts") or ()),
        domainname=body.get("Domainname") or "",
    )


CONTAINER_FILTERS = ("id", "name", "label", "status", "network")


def _matches(engine: Engine, container, filters: dict[str, list[str]]) -> bool:
    """`docker ps --filter`: id, name, label, status, network (values of one key OR-ed)."""
    networks = {engine.networks[n].name for n in container.attachments if n in engine.networks}
    labels = container.labels
    return (
        any_of(filters, "id", lambda v: container.id.startswith(v))
        and any_of(filters, "name", lambda v: docker_match(v, container.name))
        and labels_match(labels, filters.get("label", []))
        and any_of(filters, "status", lambda v: shapes.state(container) == v)
        and any_of(filters, "network", lambda v: v in networks)
    )


class LoggedStream:
    """A hijacked stream that also appends what it carries to the container's log,
    so `docker logs` has the output of attached runs too."""

    def __init__(self, hijack, output: CapturedOutput) -> None:
        self._hijack = hijack
        self._output = output

    def send(self, data: bytes) -> None:
        self._hijack.send(data)
        self._output.record(data[8:])


def _has_config(body: dict) -> bool:
    """Whether the body sets a field of container.Config: dockerd's wrapper embeds
    *container.Config, which Go leaves nil unless one of its fields is present."""
    return not body.keys().isdisjoint(apispec.definition("ContainerConfig")["properties"])


@ROUTES.add("POST", "/containers/create")
def create_container(host: HostContext, request: Request) -> Response:
    body = bodies.decode(request, bodies.CONTAINER_CREATE)
    if not _has_config(body):
        raise err.InvalidParameter("config cannot be empty in order to create a container")
    host_config = body.get("HostConfig") or {}
    ports = port_options(body.get("ExposedPorts"), host_config.get("PortBindings"),
                         bool(host_config.get("PublishAllPorts")))
    command = list(body.get("Entrypoint") or []) + list(body.get("Cmd") or [])
    container = host.engine.lifecycle.create(
        request.arg("name"), attach_requests(body), body.get("Hostname") or None,
        command or None, image=body.get("Image") or "", labels=body.get("Labels") or {},
        env=body.get("Env") or [],
        auto_remove=bool(host_config.get("AutoRemove")), ports=ports,
        dns=dns_config(body), runtime=runtime_spec(body),
    )
    return Response(201, {"Id": container.id, "Warnings": port_warnings(host_config)})


def port_warnings(host_config: dict) -> list[str]:
    """dockerd's verifyPlatformContainerSettings: ports published in host mode."""
    if host_config.get("NetworkMode") == "host" and host_config.get("PortBindings"):
        return ["Published ports are discarded when using host network mode"]
    return []


@ROUTES.add("POST", "/containers/{id}/start")
def start_container(host: HostContext, request: Request) -> Response:
    started = host.engine.lifecycle.start(request.params["id"])
    return Response(204 if started else 304)


@ROUTES.add("POST", "/containers/{id}/stop")
def stop_container(host: HostContext, request: Request) -> Response:
    stopped = host.engine.lifecycle.stop(request.params["id"])
    return Response(204 if stopped else 304)


@ROUTES.add("POST", "/containers/{id}/kill")
def kill_container(host: HostContext, request: Request) -> Response:
    host.engine.lifecycle.kill(request.params["id"])
    return Response(204)


@ROUTES.add("POST", "/containers/{id}/restart")
def restart_container(host: HostContext, request: Request) -> Response:
    host.engine.lifecycle.restart(request.params["id"])
    return Response(204)


@ROUTES.add("DELETE", "/containers/{id}")
def remove_container(host: HostContext, request: Request) -> Response:
    host.engine.lifecycle.remove(request.params["id"], force=request.flag("force"))
    return Response(204)


@ROUTES.add("GET", "/containers/json")
def list_containers(host: HostContext, request: Request) -> Response:
    engine = host.engine
    engine.reap_exited()
    filters = request.filters()
    unknown = sorted(set(filters) - set(CONTAINER_FILTERS))
    if unknown:
        raise err.InvalidParameter(f"invalid filter '{unknown[0]}'")
    everything = request.flag("all") or "status" in filters
    containers = [c for c in engine.list_containers(all=everything)[::-1]
                  if _matches(engine, c, filters)]
    return Response(200, [shapes.summary(engine, c) for c in containers])


@ROUTES.add("GET", "/containers/{id}/json")
def inspect_container(host: HostContext, request: Request) -> Response:
    engine = host.engine
    engine.reap_exited()
    container = engine.container_copy(request.params["id"])
    log = engine.lifecycle.log_path(container.id)
    return Response(200, shapes.inspect(engine, container, str(log) if log else ""))


@ROUTES.add("POST", "/containers/{id}/wait", streams=True)
def wait_container(host: HostContext, request: Request) -> Response:
    """dockerd sends the headers at once and the exit code when there is one."""
    cid = host.engine.get_container(request.params["id"]).id
    condition = request.arg("condition") or "not-running"
    lifecycle = host.engine.lifecycle
    return Response(200, later=lambda: {"StatusCode": lifecycle.wait(cid, condition)})


@ROUTES.add("GET", "/containers/{id}/logs")
def container_logs(host: HostContext, request: Request) -> Response:
    container = host.engine.get_container(request.params["id"])
    data = host.engine.lifecycle.logs(container.id)
    return Response(200, raw=frame(STDOUT, data) if data else b"",
                    headers={"Content-Type": MULTIPLEXED_STREAM})


@ROUTES.add("POST", "/containers/{id}/attach", streams=True)
def attach_container(host: HostContext, request: Request) -> None:
    """`docker run` attached: upgrade the connection, then stream the container's
    output from its start until its process ends."""
    engine = host.engine
    lifecycle = engine.lifecycle
    container = engine.get_container(request.params["id"])
    hijack = request.hijack
    if hijack is None or lifecycle.log_dir is None:
        raise err.NotImplementedByEmulator("attach needs a hijacked connection")
    output = lifecycle.capture_output(container.id)
    streams = {output.stdout: STDOUT, output.stderr: STDERR}
    try:
        hijack.upgrade(MULTIPLEXED_STREAM)
        lifecycle.started(container.id).wait()
        pidfd = lifecycle.process_fd(container.id)
        teed = LoggedStream(hijack, output)
        if pidfd is None:
            for fd, stream in streams.items():
                drain(teed, fd, stream, tty=False)
        else:
            try:
                pump(teed, streams, tty=False, until_fd=pidfd)
            finally:
                os.close(pidfd)
    finally:
        output.close()
        hijack.close()
