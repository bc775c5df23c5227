"""Container routes beyond the life cycle, as dockerd answers them: `stats`, `top`,
`rename`, `pause`/`unpause`, `container prune`, and `cp` (the archive routes).

The work is the engine's (`engine.lifecycle.ops`, cnm/containerops.py) and, for
`cp`, the container's own filesystem seen from a child chrooted into it
(fabric/containerfs.py); this module shapes requests and answers.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

from emulator import errdefs as err
from emulator.api.context import HostContext
from emulator.api.router import Request, Response, RouteTable
from emulator.cnm.containerlogs import rfc3339_nano
from emulator.cnm.containerops import Sample
from emulator.cnm.model import Container
from emulator.fabric import containerfs

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""

ZERO_TIME = "0001-01-01T00:00:00Z"
STATS_INTERVAL_S = 1.0
"""dockerd's stats collector samples once a second."""
BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
              "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
              "io_time_recursive", "sectors_recursive")


def _cpu(sample: Sample | None) -> dict[str, object]:
    """Go's CPUStats (zero values where there is no sample)."""
    body: dict[str, object] = {
        "cpu_usage": {
            "total_usage": sample.cpu_user_ns + sample.cpu_system_ns if sample else 0,
            "usage_in_kernelmode": sample.cpu_system_ns if sample else 0,
            "usage_in_usermode": sample.cpu_user_ns if sample else 0,
        },
    }
    if sample is not None:
        body["system_cpu_usage"] = sample.system_cpu_ns
        body["online_cpus"] = sample.online_cpus
    body["throttling_data"] = {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
    return body


def stats_body(container: Container, sample: Sample | None,
               previous: Sample | None = None) -> dict[str, object]:
    """dockerd's StatsResponse of one reading (and the one before, for the CPU delta)."""
    body: dict[str, object] = {
        "name": "/" + container.name, "id": container.id,
        "read": rfc3339_nano(sample.time_ns) if sample else ZERO_TIME,
        "preread": rfc3339_nano(previous.time_ns) if previous else ZERO_TIME,
        "pids_stats": {"current": sample.pids} if sample and sample.pids else {},
        "blkio_stats": dict.fromkeys(BLKIO_KEYS),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu(sample),
        "precpu_stats": _cpu(previous),
        "memory_stats": ({"usage": sample.memory, "stats": {"rss": sample.memory},
                          "limit": sample.memory_limit} if sample else {}),
    }
    if sample is not None and sample.networks:
        body["networks"] = {name: dict(counters)
                            for name, counters in sorted(sample.networks.items())}
    return body


def _bool_arg(request: Request, name: str, default: bool) -> bool:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    return raw.lower() in ("1", "true", "yes")


def _line(body: dict) -> bytes:
    return (json.dumps(body) + "\n").encode()


@ROUTES.add("GET", "/containers/{id}/stats", streams=True)
def container_stats(host: HostContext, request: Request) -> Response:
    """`docker stats`: a reading a second while streaming; without a stream, the
    second reading (so the CPU share has a delta), or with `one-shot` the first."""
    stream = _bool_arg(request, "stream", True)
    one_shot = _bool_arg(request, "one-shot", False)
    if stream and one_shot:
        raise err.InvalidParameter("cannot have stream=true and one-shot=true")
    engine = host.engine
    engine.reap_exited()
    ops = engine.lifecycle.ops
    cid = engine.get_container(request.params["id"]).id

    def current() -> Container:
        found = engine.view().containers.get(cid)
        if found is None:
            raise err.NotFound(f"No such container: {cid}")
        return found

    if not stream:
        container = current()
        first = ops.sample(container)
        if first is None or one_shot:
            return Response(200, stats_body(container, first))
        time.sleep(STATS_INTERVAL_S)  # the collector's next reading
        engine.reap_exited()
        container = current()
        return Response(200, stats_body(container, ops.sample(container) or first, first))

    def readings() -> Iterator[bytes]:
        previous: Sample | None = None
        while True:
            engine.reap_exited()
            container = engine.view().containers.get(cid)
            if container is None:
                return
            sample = ops.sample(container)
            yield _line(stats_body(container, sample, previous))
            previous = sample
            deadline = time.monotonic() + STATS_INTERVAL_S
            while time.monotonic() < deadline:
                yield b""  # the client may have gone
                time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    return Response(200, stream=readings(), headers={"Content-Type": "application/json"})


@ROUTES.add("GET", "/containers/{id}/top")
def container_top(host: HostContext, request: Request) -> Response:
    return Response(200, host.engine.lifecycle.ops.top(request.params["id"],
                                                      request.arg("ps_args") or ""))


@ROUTES.add("POST", "/containers/{id}/rename")
def rename_container(host: HostContext, request: Request) -> Response:
    host.engine.lifecycle.ops.rename(request.params["id"], request.arg("name") or "")
    return Response(204)


@ROUTES.add("POST", "/containers/{id}/pause")
def pause_container(host: HostContext, request: Request) -> Response:
    host.engine.lifecycle.ops.pause(request.params["id"])
    return Response(204)


@ROUTES.add("POST", "/containers/{id}/unpause")
def unpause_container(host: HostContext, request: Request) -> Response:
    host.engine.lifecycle.ops.unpause(request.params["id"])
    return Response(204)


@ROUTES.add("POST", "/containers/prune")
def prune_containers(host: HostContext, request: Request) -> Response:
    removed = host.engine.lifecycle.ops.prune(request.filters())
    return Response(200, {"ContainersDeleted": removed or None, "SpaceReclaimed": 0})


# -- docker cp -------------------------------------------------------------------------


def _archive_target(host: HostContext, request: Request) -> tuple[Container, str]:
    path = request.arg("path") or ""
    if not path:
        raise err.InvalidParameter("bad parameter: path cannot be empty")
    engine = host.engine
    engine.reap_exited()
    container = engine.get_container(request.params["id"])
    if not container.running or not container.pid:
        raise err.NotImplementedByEmulator(
            "docker cp with a container that is not running is not supported by the "
            "emulator: its filesystem is reached through its running process")
    return container, path


def _stat_header(stat: dict) -> dict[str, str]:
    encoded = base64.b64encode(json.dumps(stat, separators=(",", ":")).encode()).decode()
    return {"X-Docker-Container-Path-Stat": encoded}


def _not_found(path: str, ref: str) -> err.NotFound:
    return err.NotFound(f"Could not find the file {path} in container {ref}")


@ROUTES.add("GET", "/containers/{id}/archive")
def get_archive(host: HostContext, request: Request) -> Response:
    """A tar of a path in the container (HEAD: only its stat, in the header)."""
    container, path = _archive_target(host, request)
    ref = request.params["id"]
    try:
        if request.method == "HEAD":
            return Response(200, headers=_stat_header(containerfs.stat_path(container.pid,
                                                                             path)))
        archive = containerfs.archive_path(container.pid, path)
    except containerfs.PathNotFound:
        raise _not_found(path, ref) from None
    except containerfs.ArchiveError as exc:
        raise err.DockerError(str(exc)) from None
    host.engine.events.container(container, "archive-path")
    return Response(200, raw=archive.tar,
                    headers={**_stat_header(archive.stat), "Content-Type": "application/x-tar"})


@ROUTES.add("PUT", "/containers/{id}/archive")
def put_archive(host: HostContext, request: Request) -> Response:
    """Unpack the request's tar into a directory of the container."""
    container, path = _archive_target(host, request)
    try:
        containerfs.extract_to(container.pid, path, request.body,
                               copy_uid_gid=request.flag("copyUIDGID"),
                               no_overwrite_dir_non_dir=request.flag("noOverwriteDirNonDir"))
    except containerfs.PathNotFound:
        raise _not_found(path, request.params["id"]) from None
    except containerfs.NotADirectory as exc:
        raise err.InvalidParameter(str(exc)) from None
    except containerfs.ArchiveError as exc:
        raise err.DockerError(str(exc)) from None
    host.engine.events.container(container, "extract-to-dir")
    return Response(200)
