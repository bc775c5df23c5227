"""`/containers`: create, start, stop, kill, restart, remove, list, inspect, wait,
logs, attach and resize. Any image name is accepted: it picks the container's root
filesystem (cnm/images). What outlives a
request (start events, waits, auto-remove, logs) is the engine's lifecycle."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from emulator import errdefs as err
from emulator.api import apispec, bodies, containerfields
from emulator.api.context import HostContext
from emulator.api.events import optional_timestamp, parse_timestamp
from emulator.api.router import Request, Response, RouteTable
from emulator.api.shapes import containers as shapes
from emulator.api.streams import (
    MULTIPLEXED_STREAM,
    RAW_STREAM,
    STDERR,
    STDOUT,
    drain,
    feed_stdin,
    frame,
    pump,
)
from emulator.cnm import sysctls as net_sysctls
from emulator.cnm.consoles import Console
from emulator.cnm.containerlogs import LogRecord, rfc3339_nano
from emulator.cnm.engine import AttachRequest, DnsConfig, Engine
from emulator.cnm.filters import any_of, docker_match, labels_match
from emulator.cnm.lifecycle import CapturedOutput, never_started
from emulator.cnm.runtimespec import runtime_spec
from emulator.drivers.portmapping import port_options

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""


PREDEFINED_MODES = ("default", "bridge", "host", "none")
CONTAINER_WIDE_MAC_DEPRECATED = ("The container-wide MacAddress field is now deprecated. It "
                                 "should be specified in EndpointsConfig instead.")
CONTAINER_NETWORK_AND_MAC = "conflicting options: mac-address and the network mode"


def _is_user_defined(mode: str) -> bool:
    return mode not in PREDEFINED_MODES and not mode.startswith("container:")


@dataclass
class NetworkingRequest:
    """A create request's networks as dockerd reads them: NetworkMode ("default" made
    "bridge") and EndpointsConfig, the container-wide MacAddress moved onto the
    endpoint of NetworkMode (handleMACAddressBC), and the warnings that gives."""

    mode: str
    endpoints: dict[str, dict]
    warnings: list[str]


def networking_request(body: dict, api_version: str | None = None) -> NetworkingRequest:
    host_config = body.get("HostConfig") or {}
    endpoints = {k: dict(v or {}) for k, v in
                 ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).items()}
    mode = host_config.get("NetworkMode") or "default"
    if mode == "default":
        # dockerd's NetworkMode default is its default network, and so is the endpoint
        mode = "bridge" if not endpoints or "bridge" in endpoints or "default" in endpoints \
            else next(iter(endpoints))
        if "default" in endpoints:
            endpoints["bridge"] = endpoints.pop("default")
    warnings: list[str] = []
    mac = body.get("MacAddress") or ""
    old_api = api_version is not None and _older(api_version, "1.44")
    if old_api and not mac:
        for endpoint in endpoints.values():  # the old API would have ignored them
            endpoint.pop("MacAddress", None)
    if old_api and mac and mode != "bridge" and not _is_user_defined(mode):
        raise err.InvalidParameter(CONTAINER_NETWORK_AND_MAC)
    if mac and (mode == "bridge" or _is_user_defined(mode)):
        endpoint = _endpoint_for_mode(mode, endpoints, old_api)
        if endpoint.get("MacAddress") and endpoint["MacAddress"] != mac and not old_api:
            raise err.InvalidParameter("the container-wide MAC address must match the "
                                       "endpoint-specific MAC address for the main network, "
                                       "or be left empty")
        endpoint["MacAddress"] = mac
    if mac and not old_api:
        warnings.append(CONTAINER_WIDE_MAC_DEPRECATED)
    return NetworkingRequest(mode, endpoints, warnings)


def _older(version: str, than: str) -> bool:
    def key(text: str) -> tuple[int, ...]:
        return tuple(int(p) for p in text.split(".") if p.isdigit())
    return key(version) < key(than)


def _endpoint_for_mode(mode: str, endpoints: dict[str, dict], old_api: bool) -> dict:
    """epConfigForNetMode: the endpoint of the NetworkMode network, made if there are
    none; with others but not that one, which is meant cannot be told."""
    if not endpoints:
        endpoints[mode] = {}
    elif old_api:
        return next(iter(endpoints.values()))
    if mode not in endpoints:
        raise err.InvalidParameter(
            "unable to migrate container-wide MAC address to a specific network: "
            "HostConfig.NetworkMode must match the identity of a network in "
            "NetworkSettings.Networks")
    return endpoints[mode]


def attach_requests(body: dict, networking: NetworkingRequest | None = None,
                    ) -> list[AttachRequest]:
    """The networks of a create request: NetworkMode first, then EndpointsConfig."""
    networking = networking or networking_request(body)
    mode, endpoints = networking.mode, networking.endpoints
    if mode.startswith("container:"):
        raise err.NotImplementedByEmulator("--network container:NAME is not supported by the "
                                           "emulator yet")
    names = [mode] + [name for name in endpoints if name != mode]
    requests = []
    for name in names:
        config = endpoints.get(name) or {}
        ipam = config.get("IPAMConfig") or {}
        # getNetworkID: a user-defined network is found by its NetworkID when given
        target = (config.get("NetworkID") or name) if _is_user_defined(name) else name
        requests.append(AttachRequest(target, ipam.get("IPv4Address") or None,
                                      tuple(config.get("Aliases") or ()),
                                      config.get("MacAddress") or None,
                                      tuple(config.get("Links") or ()),
                                      ipam.get("IPv6Address") or None))
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
        self._output.record(data[8:], data[0])


def _has_config(body: dict) -> bool:
    """Whether the body sets a field of container.Config: dockerd's wrapper embeds
    *container.Config, which Go leaves nil unless one of its fields is present."""
    return not body.keys().isdisjoint(apispec.definition("ContainerConfig")["properties"])


@ROUTES.add("POST", "/containers/create")
def create_container(host: HostContext, request: Request) -> Response:
    body = bodies.decode(request, bodies.CONTAINER_CREATE)
    if not _has_config(body):
        raise err.InvalidParameter("config cannot be empty in order to create a container")
    containerfields.refuse_create(body)
    networking = networking_request(body, request.api_version)
    host_config = body.get("HostConfig") or {}
    sysctl_warnings = net_sysctls.check(host_config.get("Sysctls") or {},
                                        private=networking.mode != "host")
    ports = port_options(body.get("ExposedPorts"), host_config.get("PortBindings"),
                         bool(host_config.get("PublishAllPorts")))
    command = list(body.get("Entrypoint") or []) + list(body.get("Cmd") or [])
    container = host.engine.lifecycle.create(
        request.arg("name"), attach_requests(body, networking), body.get("Hostname") or None,
        command or None, image=body.get("Image") or "", labels=body.get("Labels") or {},
        env=body.get("Env") or [],
        auto_remove=bool(host_config.get("AutoRemove")), ports=ports,
        dns=dns_config(body), links=host_config.get("Links") or (),
        sysctls=host_config.get("Sysctls") or {}, runtime=runtime_spec(body),
    )
    return Response(201, {"Id": container.id,
                          "Warnings": port_warnings(host_config) + networking.warnings
                          + sysctl_warnings})


def port_warnings(host_config: dict) -> list[str]:
    """dockerd's verifyPlatformContainerSettings: ports published in host mode."""
    if host_config.get("NetworkMode") == "host" and host_config.get("PortBindings"):
        return ["Published ports are discarded when using host network mode"]
    return []


@ROUTES.add("POST", "/containers/{id}/start")
def start_container(host: HostContext, request: Request) -> Response:
    """A start takes no body since API 1.24 (a JSON object is at least 7 bytes)."""
    if len(request.body) > 7:
        raise err.InvalidParameter("starting container with non-empty request body was "
                                   "deprecated since API v1.22 and removed in v1.24")
    started = host.engine.lifecycle.start(request.params["id"])
    return Response(204 if started else 304)


@ROUTES.add("POST", "/containers/{id}/stop")
def stop_container(host: HostContext, request: Request) -> Response:
    stopped = host.engine.lifecycle.stop(request.params["id"])
    return Response(204 if stopped else 304)


@ROUTES.add("POST", "/containers/{id}/kill")
def kill_container(host: HostContext, request: Request) -> Response:
    host.engine.lifecycle.kill(request.params["id"], request.arg("signal") or "")
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


@ROUTES.add("GET", "/containers/{id}/logs", streams=True)
def container_logs(host: HostContext, request: Request) -> Response:
    """dockerd's logs: the chosen streams, `tail` lines (a number, else all), from `since`
    to `until`, each line with its time when `timestamps`; `follow` goes on with what
    a running container writes until it stops."""
    streams = {s for s, flag in ((STDOUT, "stdout"), (STDERR, "stderr")) if request.flag(flag)}
    if not streams:
        raise err.InvalidParameter("You must choose at least one stream")
    engine = host.engine
    engine.reap_exited()
    container = engine.get_container(request.params["id"])
    tail_arg = request.arg("tail") or "all"
    tail = int(tail_arg) if tail_arg.lstrip("-").isdigit() and int(tail_arg) >= 0 else None
    since = optional_timestamp(request, "since")
    until_arg = request.arg("until") or ""
    until = parse_timestamp(until_arg) if until_arg not in ("", "0") else None
    timestamps = request.flag("timestamps")

    def framed(record: LogRecord) -> bytes:
        stamp = (rfc3339_nano(record.time_ns, fixed=True) + " ").encode() if timestamps else b""
        return frame(record.stream, stamp + record.data)

    lifecycle = engine.lifecycle
    records, offset = lifecycle.log_records(container.id, since, until, tail)
    past = b"".join(framed(r) for r in records if r.stream in streams)
    headers = {"Content-Type": MULTIPLEXED_STREAM}
    if not (request.flag("follow") and container.running):
        return Response(200, raw=past, headers=headers)

    def stream() -> Iterator[bytes]:
        yield past
        for record in lifecycle.follow_logs(container.id, offset, until):
            if record is None:
                yield b""
            elif record.stream in streams and (since is None or record.time_ns >= since):
                yield framed(record)

    return Response(200, stream=stream(), headers=headers)


@ROUTES.add("POST", "/containers/{id}/attach", streams=True)
def attach_container(host: HostContext, request: Request) -> None:
    """`docker run` attached, `docker attach`: upgrade the connection, then stream the
    container's output until its process ends, and with `stdin=1` what the client types
    to a container created with `-i` (its terminal with `-t`)."""
    engine = host.engine
    lifecycle = engine.lifecycle
    container = engine.get_container(request.params["id"])
    hijack = request.hijack
    if hijack is None or lifecycle.log_dir is None:
        raise err.NotImplementedByEmulator("attach needs a hijacked connection")
    if not container.running and not never_started(container):
        raise err.Conflict("You cannot attach to a stopped container, start it first")
    if request.arg("detachKeys"):
        raise err.NotImplementedByEmulator("--detach-keys is not supported by the emulator")
    console = lifecycle.console(container.id)
    stdin = request.flag("stdin") and container.runtime.open_stdin and console is not None
    if console is not None and console.tty:
        _attach_terminal(host, container.id, console, hijack, stdin)
    elif container.running:
        _attach_running(host, container.id, console, hijack, stdin)
    else:
        _attach_from_start(host, container.id, console, hijack, stdin)


def _feed(hijack, console: Console, close_at_end: bool) -> None:
    feed_stdin(hijack, console.write, console.close_stdin if close_at_end else None)


def _attach_terminal(host: HostContext, cid: str, console: Console, hijack,
                     stdin: bool) -> None:
    """A TTY container: its terminal's bytes, raw, both ways."""
    lifecycle = host.engine.lifecycle
    chunks, stop = console.listen()
    try:
        hijack.upgrade(RAW_STREAM)
        if stdin:
            _feed(hijack, console, close_at_end=False)
        lifecycle.started(cid).wait()
        while True:
            data = chunks.get()
            if data is None:
                break
            hijack.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        stop()
        hijack.close()


def _attach_from_start(host: HostContext, cid: str, console: Console | None, hijack,
                       stdin: bool) -> None:
    """A created container about to start (`docker run`): its output from the first
    byte, through FIFOs it will write to."""
    lifecycle = host.engine.lifecycle
    container = host.engine.get_container(cid)
    output = lifecycle.capture_output(cid)
    streams = {output.stdout: STDOUT, output.stderr: STDERR}
    try:
        hijack.upgrade(MULTIPLEXED_STREAM)
        if stdin and console is not None:
            _feed(hijack, console, close_at_end=container.runtime.stdin_once)
        lifecycle.started(cid).wait()
        pidfd = lifecycle.process_fd(cid)
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


def _attach_running(host: HostContext, cid: str, console: Console | None, hijack,
                    stdin: bool) -> None:
    """`docker attach` to a running container without a TTY: what it writes to its log
    from now on, each stream as itself, until its run ends."""
    lifecycle = host.engine.lifecycle
    try:
        hijack.upgrade(MULTIPLEXED_STREAM)
        if stdin and console is not None:
            _feed(hijack, console, close_at_end=False)
        offset = lifecycle.log_records(cid, since_ns=time.time_ns())[1]
        for record in lifecycle.follow_logs(cid, offset):
            if record is not None:
                hijack.send(frame(record.stream, record.data))
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        hijack.close()


@ROUTES.add("POST", "/containers/{id}/resize")
def resize_container(host: HostContext, request: Request) -> Response:
    """The TTY's window (`docker run -it` sends it at start and on every change)."""
    engine = host.engine
    container = engine.get_container(request.params["id"])
    if not container.running:
        raise err.Conflict(f"Container {container.id} is not running")
    console = engine.lifecycle.console(container.id)
    try:
        rows, cols = int(request.arg("h") or 0), int(request.arg("w") or 0)
    except ValueError:
        raise err.InvalidParameter("strconv.Atoi: parsing: invalid syntax") from None
    if console is not None and console.tty:
        console.resize(rows, cols)
    return Response(200)
