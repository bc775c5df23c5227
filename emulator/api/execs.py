"""`docker exec`: exec instances, started over a hijacked connection."""

from __future__ import annotations

import os
import secrets
import threading

from emulator import errdefs as err
from emulator.api import bodies
from emulator.api.context import ExecInstance, HostContext
from emulator.api.router import Request, Response, RouteTable
from emulator.api.streams import (
    MULTIPLEXED_STREAM,
    RAW_STREAM,
    STDERR,
    STDOUT,
    feed_stdin,
    frame,
    pump,
)
from emulator.cnm.engine import Engine
from emulator.fabric.identity import SandboxSetupError
from emulator.fabric.terminals import set_window

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""


def _run(engine: Engine, item: ExecInstance, request: Request, detach: bool) -> Response | None:
    container = engine.get_container(item.container_id)
    if not container.running or container.sandbox is None:
        raise err.Conflict(f"container {container.id} is not running")
    if container.paused:
        raise err.Conflict(f"Container {container.id} is paused, unpause the container "
                           "before exec")
    env = engine.process_environment(container, item.env)
    identity = container.runtime.identity(item.user, item.workdir, item.privileged)
    hijack = AttachedStreams.wrap(request.hijack, item)
    streaming = hijack is not None and not detach
    if streaming:
        # dockerd upgrades first and starts the process after: a client must never get
        # output in the same read as the headers (docker-py loses it then)
        hijack.upgrade(RAW_STREAM if item.tty else MULTIPLEXED_STREAM)
    try:
        proc, master = engine.fabric.popen(container.sandbox, item.argv, tty=item.tty, env=env,
                                           identity=identity, size=item.console_size)
    except SandboxSetupError as exc:
        item.exit_code = 126
        if not streaming:
            raise err.DockerError(str(exc)) from None
        hijack.send(str(exc).encode() + b"\r\n" if item.tty
                    else frame(STDOUT, str(exc).encode() + b"\n"))
        hijack.close()
        return None
    except FileNotFoundError:
        item.exit_code = 127
        message = ("OCI runtime exec failed: exec failed: unable to start container process: "
                   f'exec: "{item.argv[0]}": executable file not found in $PATH: unknown\r\n')
        if not streaming:
            raise err.DockerError(message.strip()) from None
        data = message.encode()
        hijack.send(data if item.tty else frame(STDOUT, data))
        hijack.close()
        return None
    item.running, item.pid, item.master = True, proc.pid, master
    if master is not None and item.console_size:  # a resize that came during the start
        set_window(master, *item.console_size)
    if detach:
        threading.Thread(target=_finish, args=(item, proc), daemon=True).start()
        return Response(200)
    if hijack is None:
        out, errs = proc.communicate()
        _finish(item, proc)
        out = out if item.attach_stdout else b""
        errs = errs if item.attach_stderr else b""
        body = out if item.tty else frame(STDOUT, out) + frame(STDERR, errs)
        return Response(200, raw=body, headers={"Content-Type": MULTIPLEXED_STREAM})
    if master is not None:
        if item.attach_stdin:
            feed_stdin(hijack, lambda data: os.write(master, data))
        pump(hijack, {master: STDOUT}, tty=True)
        item.master = None
        os.close(master)
    else:
        if item.attach_stdin:
            feed_stdin(hijack, _writer(proc.stdin), proc.stdin.close)
        else:
            proc.stdin.close()
        pump(hijack, {proc.stdout.fileno(): STDOUT, proc.stderr.fileno(): STDERR}, tty=False)
    _finish(item, proc)
    hijack.close()
    return None


class AttachedStreams:
    """A hijacked exec connection that carries only the streams the exec attached
    (AttachStdout, AttachStderr), as dockerd's ContainerExecStart wires only those."""

    def __init__(self, hijack, item: ExecInstance) -> None:
        self._hijack = hijack
        self._tty = item.tty
        self._streams = {s for s, on in ((STDOUT, item.attach_stdout),
                                         (STDERR, item.attach_stderr)) if on}

    @classmethod
    def wrap(cls, hijack, item: ExecInstance):
        if hijack is None or (item.attach_stdout and item.attach_stderr):
            return hijack
        return cls(hijack, item)

    def send(self, data: bytes) -> None:
        stream = STDOUT if self._tty else data[0]
        if stream in self._streams:
            self._hijack.send(data)

    def __getattr__(self, name: str):
        return getattr(self._hijack, name)


def _writer(stream):
    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    return write


def _finish(item: ExecInstance, proc) -> None:
    item.exit_code = proc.wait()
    item.running = False
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()


@ROUTES.add("POST", "/containers/{id}/exec")
def create_exec(host: HostContext, request: Request) -> Response:
    body = bodies.decode(request, bodies.EXEC_CREATE)
    engine = host.engine
    engine.reap_exited()
    container = engine.get_container(request.params["id"])
    if not container.running:
        raise err.Conflict(f"container {container.id} is not running")
    if container.paused:  # dockerd's getActiveContainer names it as the client did
        raise err.Conflict(f"Container {request.params['id']} is paused, unpause the "
                           "container before exec")
    argv = body.get("Cmd") or []
    if not argv:
        raise err.InvalidParameter("No exec command specified")
    if body.get("DetachKeys"):
        raise err.NotImplementedByEmulator("--detach-keys is not supported by the emulator")
    size = body.get("ConsoleSize") or None
    workdir = body.get("WorkingDir") or ""
    if workdir and not workdir.startswith("/"):
        raise err.InvalidParameter(f"the working directory '{workdir}' is invalid, it needs "
                                   "to be an absolute path")
    item = ExecInstance(secrets.token_hex(32), container.id, list(argv),
                        tty=bool(body.get("Tty")), attach_stdin=bool(body.get("AttachStdin")),
                        env=list(body.get("Env") or []),
                        attach_stdout=bool(body.get("AttachStdout")),
                        attach_stderr=bool(body.get("AttachStderr")),
                        user=body.get("User") or "",
                        workdir=workdir, privileged=bool(body.get("Privileged")),
                        console_size=(int(size[0]), int(size[1])) if size and any(size)
                        else None)
    host.execs.add(item)
    return Response(201, {"Id": item.id})


@ROUTES.add("POST", "/exec/{id}/start", streams=True)
def start_exec(host: HostContext, request: Request) -> Response | None:
    body = bodies.decode(request, bodies.EXEC_START)
    item = host.execs.get(request.params["id"])
    if item.running or item.exit_code is not None:
        raise err.Conflict(f"exec {item.id} has already been started")
    if "Tty" in body:
        item.tty = bool(body["Tty"])
    return _run(host.engine, item, request, detach=bool(body.get("Detach")))


@ROUTES.add("POST", "/exec/{id}/resize")
def resize_exec(host: HostContext, request: Request) -> Response:
    """`docker exec -it` sends the terminal's size as it starts and on every change."""
    item = host.execs.get(request.params["id"])
    rows, cols = _size(request)
    item.console_size = (rows, cols)
    master = item.master
    if master is not None:
        try:
            set_window(master, rows, cols)
        except OSError:  # it ended meanwhile
            pass
    return Response(200)


def _size(request: Request) -> tuple[int, int]:
    try:
        return int(request.arg("h") or 0), int(request.arg("w") or 0)
    except ValueError:
        raise err.InvalidParameter("strconv.Atoi: parsing: invalid syntax") from None


@ROUTES.add("GET", "/exec/{id}/json")
def inspect_exec(host: HostContext, request: Request) -> Response:
    item = host.execs.get(request.params["id"])
    return Response(200, {
        "CanRemove": False, "ContainerID": item.container_id, "DetachKeys": "",
        "ExitCode": item.exit_code, "ID": item.id, "OpenStderr": True, "OpenStdin":
        item.attach_stdin, "OpenStdout": True, "Running": item.running, "Pid": item.pid,
        "ProcessConfig": {"arguments": item.argv[1:], "entrypoint": item.argv[0],
                          "privileged": item.privileged, "tty": item.tty,
                          "user": item.user},
    })
